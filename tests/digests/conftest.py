"""A real SMTP server on 127.0.0.1 (aiosmtpd), and helpers for digest tests."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller

from bounty.challenges.models import ChallengeState
from bounty.digests.models import Frequency, Subscription
from bounty.extensions import db

from ..factories import create_challenge, create_user

# 2024-05-06 is a Monday; 00:00 UTC is 08:00 in Shanghai, when the digests run.
MONDAY_8AM = datetime(2024, 5, 6, 0, 0, tzinfo=UTC)


@dataclass
class Received:
    envelope_to: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body((subtype,))
        assert body is not None, f"no text/{subtype} part"
        return body.get_content()


class Sink:
    """The aiosmtpd handler: keeps every accepted message; refuses addresses on demand."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}  # address -> SMTP reply, e.g. "550 5.1.1 unknown"
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SMTPServer:
    """Start, stop and restart a real SMTP server on one fixed local port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sink = Sink()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        return self.sink.received

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.envelope_to]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    server = SMTPServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app, smtp_server):
    """The app sending through the test SMTP server."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, MAIL_TIMEOUT=5,
                      MAIL_DEFAULT_SENDER="瓯海揭榜挂帅平台 <noreply@bounty.test>",
                      PUBLIC_URL="https://bounty.example.cn")
    return app


@pytest.fixture
def at_monday_8am(time_machine):
    time_machine.move_to(MONDAY_8AM, tick=False)
    return MONDAY_8AM


def subscribe(user=None, **fields) -> Subscription:
    user = user or create_user("institute")
    subscription = Subscription(user_id=user.id, frequency=fields.pop("frequency", Frequency.daily),
                                industries=fields.pop("industries", []),
                                categories=fields.pop("categories", []),
                                keywords=fields.pop("keywords", ""), **fields)
    db.session.add(subscription)
    db.session.commit()
    return subscription


def publish(hours_ago: float, owner=None, **fields):
    """An open challenge published ``hours_ago`` hours before now."""
    from bounty.timeutil import utcnow

    challenge = create_challenge(owner, state=ChallengeState.open, **fields)
    challenge.published_at = utcnow() - timedelta(hours=hours_ago)
    db.session.commit()
    return challenge
