"""Mail transport: SMTP (plain, STARTTLS or SSL, with login) or, without MAIL_SERVER, the
console (each email printed to standard output, where the operator sees it).

A transport sends one message at a time over one connection and classifies
every failure: :class:`PermanentFailure` (a 5xx for this address or this
message: retrying cannot help) or :class:`TransientFailure` (connection
refused, timeout, disconnect, 4xx: retry later with backoff).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import smtplib
import socket
import ssl
import sys
import threading
import uuid
from dataclasses import dataclass
from email import policy
from email.header import Header
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, parseaddr
from typing import Protocol

from ..timeutil import utcnow

log = logging.getLogger("bounty.mail")


class SendFailure(Exception):
    """Sending one message failed; ``str(exc)`` is recorded on the outbox row."""

    #: the connection is unusable: later messages of the batch will fail the same way
    connection_lost = False


class TransientFailure(SendFailure):
    pass


class ConnectionFailure(TransientFailure):
    connection_lost = True


class PermanentFailure(SendFailure):
    pass


def message_id(dedup_key: str, sender: str) -> str:
    """Stable per logical email: a re-send after a crash carries the same Message-ID,
    so mail clients that deduplicate on it show one message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(dedup_key.encode()).hexdigest()[:32]}@{domain}>"


@dataclass(frozen=True)
class Outgoing:
    """One message ready for the wire (CRLF line ends), with its recipient, subject and text."""

    recipient: str
    subject: str
    text: str
    wire: bytes


def _header(value: str) -> str:
    """An RFC 2047 encoded header value when it is not plain ASCII, folded with CRLF.

    Line breaks in the value (a title typed by a user) become spaces: no header injection.
    """
    value = " ".join(str(value).splitlines())
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(linesep="\r\n")


def _part(subtype: str, content: str) -> bytes:
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() \
        + base64.encodebytes(content.encode()).replace(b"\n", b"\r\n")


def build_message(*, sender: str, recipient: str, subject: str, text: str, html: str,
                  headers: dict, dedup_key: str) -> Outgoing:
    """A multipart/alternative message: the plain-text part first, then HTML, both base64.

    Assembled directly (headers by ``email.header``, bodies by ``base64``): the
    ``email`` package's generator costs milliseconds per message in Python, which
    at 10,000 digests was most of the sending time. The tests parse what arrives.
    """
    name, address = parseaddr(sender)
    boundary = f"=_bounty_{uuid.uuid4().hex}"
    lines = [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        f"Subject: {_header(subject)}",
        f"From: {formataddr((_header(name), address)) if name else address}",
        f"To: {recipient}",
        f"Date: {format_datetime(utcnow())}",
        f"Message-ID: {message_id(dedup_key, sender)}",
        *(f"{key}: {_header(value)}" for key, value in (headers or {}).items()),
    ]
    delimiter = f"\r\n--{boundary}\r\n".encode()
    wire = b"".join([
        "\r\n".join(lines).encode(), b"\r\n", delimiter,
        _part("plain", text), delimiter, _part("html", html),
        f"\r\n--{boundary}--\r\n".encode(),
    ])
    return Outgoing(recipient=recipient, subject=subject, text=text, wire=wire)


class Transport(Protocol):
    def send(self, message: Outgoing) -> None: ...

    def close(self) -> None: ...


class ConsoleTransport:
    """Without MAIL_SERVER: each email's headers and text part are printed to standard
    output, where the operator of ``bounty serve`` or ``bounty jobs run`` reads them."""

    _lock = threading.Lock()  # the scheduler's threads must not interleave two emails

    def __init__(self, stream=None) -> None:
        self.stream = stream

    def send(self, message: Outgoing) -> None:
        parsed = BytesParser(policy=policy.default).parsebytes(message.wire)
        headers = [f"{key}: {value}" for key, value in parsed.items()
                   if key.lower() not in ("mime-version", "content-type")]
        body = parsed.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else message.text
        printed = "\n".join([
            "----- email (MAIL_SERVER is not set: printed here, not sent) -----",
            *headers, "", text.rstrip("\n"), "----- end of email -----", ""])
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(printed)
            stream.flush()
        log.debug("email to %s printed: %s", message.recipient, message.subject)

    def close(self) -> None:
        pass


class SMTPTransport:
    """One SMTP connection, opened on first use and reopened after it is lost."""

    def __init__(self, config) -> None:
        self.host = config["MAIL_SERVER"]
        self.port = int(config["MAIL_PORT"])
        self.username = config.get("MAIL_USERNAME")
        self.password = config.get("MAIL_PASSWORD")
        self.use_tls = bool(config.get("MAIL_USE_TLS"))
        self.use_ssl = bool(config.get("MAIL_USE_SSL"))
        self.timeout = float(config.get("MAIL_TIMEOUT", 30))
        self.envelope_from = parseaddr(config["MAIL_DEFAULT_SENDER"])[1]
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout,
                    context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.use_tls:
                    smtp.starttls(context=ssl.create_default_context())
            # Without it, Nagle's algorithm and the server's delayed ACK stall every
            # message's last segment by ~40 ms: 25 emails a second instead of hundreds.
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.username:
                smtp.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectionFailure(f"connect {self.host}:{self.port}: {exc!r}") from exc
        return smtp

    def send(self, message: Outgoing) -> None:
        recipient = message.recipient
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.sendmail(self.envelope_from, [recipient], message.wire)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(recipient, (0, b""))
            detail = f"{code} {_text(reply)}"
            if code >= 500:
                raise PermanentFailure(f"recipient refused: {detail}") from exc
            raise TransientFailure(f"recipient deferred: {detail}") from exc
        except smtplib.SMTPDataError as exc:
            detail = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            if exc.smtp_code >= 500:
                raise PermanentFailure(f"message refused: {detail}") from exc
            raise TransientFailure(f"message deferred: {detail}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Disconnects, timeouts, a refused sender or HELO: nothing about this address.
            self._drop()
            raise ConnectionFailure(f"{exc!r}") from exc

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except OSError:
                pass

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def open_transport(config) -> Transport:
    """SMTP when MAIL_SERVER is set, else the console."""
    if config.get("MAIL_SERVER"):
        return SMTPTransport(config)
    return ConsoleTransport()
