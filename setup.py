"""Packaging: the templates, static files and migrations live at the repository
root (as the layout asks) and are shipped inside the package as
bounty/templates, bounty/static and bounty/migrations."""

from setuptools import find_packages, setup

ROOT_DIRS = {"bounty.templates": "templates", "bounty.static": "static",
             "bounty.migrations": "migrations"}

setup(
    packages=find_packages(include=["bounty", "bounty.*"]) + list(ROOT_DIRS),
    package_dir=ROOT_DIRS,
    package_data={
        "bounty": ["data/**/*", "translations/**/*", "matching/data/**/*", "*/data/**/*"],
        **{name: ["**/*"] for name in ROOT_DIRS},
    },
    include_package_data=False,
)
