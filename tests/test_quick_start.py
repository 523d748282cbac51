"""The README's quick start, command 1: `bash scripts/start.sh` migrates a fresh instance,
loads the demo and serves it on the port it is given, and says where emails go; the
demo's notifications, written before the server starts, link to that port too."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the environment of a test run may set that a new user's shell does not.
UNSET = ("DATABASE_URL", "PUBLIC_URL", "BOUNTY_PUBLIC_URL", "MAIL_SERVER", "BOUNTY_INSTANCE",
         "BOUNTY_TEST_DATABASE_URL")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_start_script_serves_the_demo_with_mail_linking_to_its_port(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(BOUNTY_INSTANCE=str(tmp_path / "instance"), BOUNTY_PORT=str(port),
               BOUNTY_EMBEDDER="none", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(["bash", str(ROOT / "scripts" / "start.sh")], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    # never hang the suite: a script that stops talking is ended after ten minutes
    watchdog = threading.Timer(600, os.killpg, (process.pid, signal.SIGTERM))
    watchdog.start()
    output = []
    try:
        for line in process.stdout:
            output.append(line)
            if line.startswith("links in emails:"):  # the banner's last line: serving
                break
    finally:
        watchdog.cancel()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        process.stdout.close()
    text = "".join(output)
    assert f"bounty serving on http://127.0.0.1:{port}/" in text, text[-3000:]
    assert "every email (headers and text) is printed here" in text
    assert f"links in emails: http://127.0.0.1:{port}" in text
    assert "reviewer5@example.com" in text and "ouhai-demo-2026" in text  # the demo logins

    with sqlite3.connect(tmp_path / "instance" / "bounty.sqlite3") as database:
        bodies = [body for (body,) in database.execute("SELECT text_body FROM outbox_bodies")]
    assert bodies  # the demo's history wrote notifications
    links = [body for body in bodies if "http://" in body]
    assert links and all(f"http://127.0.0.1:{port}/" in body for body in links)
    assert not any("http://127.0.0.1:5000" in body for body in bodies)
