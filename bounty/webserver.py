"""Several web processes on one port: gunicorn's pre-fork server (``bounty serve --workers N``).

Gunicorn binds the port once and forks ``workers`` processes that accept from it, each
with ``threads`` threads (the gthread worker), restarts a process that dies, and stops
them all on SIGTERM or SIGINT. Each process creates its own app (no preloading: no
database connection or index thread crosses a fork) and runs web work only: the
scheduled jobs belong to ``bounty worker``. ``bounty serve`` checks the configuration
before gunicorn starts, so the production checks hold here too.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from gunicorn.app.base import BaseApplication

from .matching import enable_healing


def create_web_app(create_app: Callable[[], Flask], public_url: str) -> Flask:
    """The app of one web process: its own index, healed when a read finds it damaged."""
    app = create_app()
    app.config["PUBLIC_URL"] = public_url
    enable_healing(app)
    return app


class WebServer(BaseApplication):
    """Gunicorn configured from arguments rather than its command line."""

    def __init__(self, options: dict, create_app: Callable[[], Flask], public_url: str) -> None:
        self.options = options
        self.create_app = create_app
        self.public_url = public_url
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:  # in each forked process
        return create_web_app(self.create_app, self.public_url)


def serve_processes(create_app: Callable[[], Flask], host: str, port: int, workers: int,
                    threads: int, public_url: str) -> None:
    """Serve on host:port with ``workers`` processes of ``threads`` threads until stopped.

    :param create_app: makes the app, in each process.
    :param public_url: where email links lead (as ``bounty serve`` decided).
    """
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
        # gunicorn's control socket is one path per user: two servers would share it
        "control_socket_disable": True,
    }, create_app, public_url).run()
