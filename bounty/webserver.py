"""Several web processes on one port: gunicorn's pre-fork server (``bounty serve --workers N``).

Gunicorn binds the port once and forks ``workers`` processes that accept from it, each
with ``threads`` threads (the gthread worker), restarts a process that dies, and stops
them all on SIGTERM or SIGINT. Each process creates its own app (no preloading: no
database connection or index thread crosses a fork) and runs web work only: the
scheduled jobs belong to ``bounty worker``. ``bounty serve`` checks the configuration
before gunicorn starts, so the production checks hold here too.
"""

from __future__ import annotations

from flask import Flask
from gunicorn.app.base import BaseApplication

from .matching import enable_healing


def create_web_app() -> Flask:
    """The app of one web process: its own index, healed when a read finds it damaged."""
    from . import create_app

    app = create_app()
    enable_healing(app)
    return app


class WebServer(BaseApplication):
    """Gunicorn configured from arguments rather than its command line."""

    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:  # in each forked process
        return create_web_app()


def serve_processes(host: str, port: int, workers: int, threads: int) -> None:
    """Serve on host:port with ``workers`` processes of ``threads`` threads until stopped."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    WebServer({
        "bind": [bind],
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "preload_app": False,
        "timeout": 120,  # a worker silent this long (one request stuck) is restarted
        "graceful_timeout": 30,
        "accesslog": None,
        "errorlog": "-",
        "proc_name": "bounty-web",
    }).run()
