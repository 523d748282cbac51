"""Several web nodes for tests: real `bounty serve` processes on the test database, each with
its own, empty instance folder and the same settings from the environment (as machines
behind a load balancer would be), and a browser that talks to any of them
(the ``two_nodes`` fixture of tests/conftest.py; tests/test_two_nodes.py)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .digests.conftest import free_port
from .processes import WAIT, Process, bounty_environment, http_status, wait_until

# What every node is given identically (README "Production", several machines).
SECRET_KEY = "two-nodes-secret-key-of-at-least-32-chars"
AUDIT_KEY = "nodes:" + "5a" * 32
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Node:
    """One `bounty serve` process and the instance folder it alone uses."""

    name: str
    instance: Path
    port: int
    process: Process

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def instance_files(self) -> list[Path]:
        return sorted(p for p in self.instance.rglob("*") if p.is_file())


def node_environment(database_url: str, instance: Path, **overrides: str) -> dict[str, str]:
    """The environment of a node: one database, the database upload store and production's
    checks (keys from the environment, none generated in the instance folder)."""
    return bounty_environment(**{
        "DATABASE_URL": database_url, "BOUNTY_INSTANCE": str(instance),
        "UPLOAD_STORE": "database", "SECRET_KEY": SECRET_KEY, "BOUNTY_AUDIT_KEY": AUDIT_KEY,
        "BOUNTY_ENV": "production", "BOUNTY_EMBEDDER": "none",
        "PUBLIC_URL": "http://localhost", **overrides})


def start_nodes(database_url: str, folder: Path, names: tuple[str, ...] = ("a", "b"),
                **overrides: str) -> list[Node]:
    """Start one node per name, each on a free port with ``folder/<name>`` as its (new,
    empty) instance folder, and wait until all answer."""
    nodes = []
    for name in names:
        instance = folder / f"node-{name}"
        instance.mkdir(parents=True)
        port = free_port()
        process = Process(["serve", "--host", "127.0.0.1", "--port", str(port),
                           "--no-scheduler"],
                          node_environment(database_url, instance, **overrides))
        nodes.append(Node(name, instance, port, process))
    for node in nodes:
        if not wait_until(lambda n=node: http_status(n.url("/accounts/login")) == 200, WAIT):
            stop_nodes(nodes)
            raise AssertionError(f"node {node.name} did not start:\n{node.process.output}")
    return nodes


def stop_nodes(nodes: list[Node]) -> None:
    for node in nodes:
        node.process.kill()


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects come back as answers, for the test to look at."""

    def redirect_request(self, *_args, **_kwargs):  # noqa: ANN002, ANN003, ANN201
        return None


class Browser:
    """A user agent with one cookie jar: the cookies of 127.0.0.1 go to every node (every
    port), as a browser's go to every machine behind one load balancer."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def open(self, url: str, data: bytes | None = None,
             headers: dict[str, str] | None = None) -> Response:
        request = urllib.request.Request(url, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=WAIT) as answer:
                return Response(answer.status, answer.read(), dict(answer.headers))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.read(), dict(exc.headers))

    def get(self, url: str) -> Response:
        return self.open(url)

    def csrf_token(self, url: str) -> str:
        page = self.get(url)
        match = CSRF.search(page.text)
        assert page.status == 200 and match, (page.status, page.text[:500])
        return match.group(1)

    def post(self, url: str, fields: dict[str, str],
             files: dict[str, tuple[str, bytes]] | None = None) -> Response:
        """Post a form, urlencoded, or as multipart/form-data when it carries files
        (``{field: (file name, content)}``)."""
        if not files:
            return self.open(url, urllib.parse.urlencode(fields).encode(),
                             {"Content-Type": "application/x-www-form-urlencoded"})
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                         f'\r\n\r\n{value}\r\n'.encode())
        for name, (filename, content) in files.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                         f'filename="{filename}"\r\nContent-Type: application/octet-stream'
                         f'\r\n\r\n'.encode() + content + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return self.open(url, b"".join(parts),
                         {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def log_in(self, node: Node, email: str, password: str) -> Response:
        """Log in through the node's real form (its CSRF token fetched from the page)."""
        token = self.csrf_token(node.url("/accounts/login"))
        return self.post(node.url("/accounts/login"),
                         {"email": email, "password": password, "csrf_token": token})

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)
