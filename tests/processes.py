"""Real `bounty` processes for tests: a command in its own session with its output
collected, the environment it runs in, and waiting on it (tests/test_worker.py,
tests/nodes.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

BOUNTY = str(Path(sys.executable).with_name("bounty"))
WAIT = 60  # seconds: an upper bound on waiting for a process, never a measurement


def bounty_environment(**values: str) -> dict[str, str]:
    """This process's environment without any bounty setting of its own (BOUNTY_*, MAIL_*,
    DATABASE_URL, PUBLIC_URL, SECRET_KEY, UPLOAD_STORE), plus ``values``."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("BOUNTY_", "MAIL_", "DATABASE_URL", "PUBLIC_URL",
                                        "SECRET_KEY", "UPLOAD_STORE"))}
    environment.update(values, PYTHONUNBUFFERED="1")
    return environment


class Process:
    """A `bounty` command in its own session, its output collected line by line."""

    def __init__(self, args: list[str], env: dict) -> None:
        self.popen = subprocess.Popen([BOUNTY, *args], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True,
                                      start_new_session=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = WAIT) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: text in self.output, timeout)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the process (gunicorn: its master) and wait for it to exit."""
        if self.popen.poll() is None:
            self.popen.send_signal(signum)
        try:
            return self.popen.wait(WAIT)
        finally:
            self.kill()

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(WAIT)
        self._reader.join(WAIT)
        self.popen.stdout.close()


def wait_until(predicate, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def http_status(url: str) -> int | None:
    """The status of a GET (None: no answer yet)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return None
