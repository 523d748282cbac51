"""Mail transport: SMTP (plain, STARTTLS or SSL, with login) or, without MAIL_SERVER, the log.

A transport sends one message at a time over one connection and classifies
every failure: :class:`PermanentFailure` (a 5xx for this address or this
message: retrying cannot help) or :class:`TransientFailure` (connection
refused, timeout, disconnect, 4xx: retry later with backoff).
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
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


def build_message(*, sender: str, recipient: str, subject: str, text: str, html: str,
                  headers: dict, dedup_key: str) -> EmailMessage:
    """A multipart/alternative message: the plain-text part first, then HTML."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id(dedup_key, sender)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class Transport(Protocol):
    def send(self, message: EmailMessage, recipient: str) -> None: ...

    def close(self) -> None: ...


class LogTransport:
    """Development default: the email goes to the log instead of a server."""

    def send(self, message: EmailMessage, recipient: str) -> None:
        text = message.get_body(("plain",))
        log.info("email to %s: %s\n%s", recipient, message["Subject"],
                 text.get_content() if text else "")

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
            if self.username:
                smtp.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectionFailure(f"connect {self.host}:{self.port}: {exc!r}") from exc
        return smtp

    def send(self, message: EmailMessage, recipient: str) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(message, self.envelope_from, [recipient])
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
    """SMTP when MAIL_SERVER is set, else the log."""
    if config.get("MAIL_SERVER"):
        return SMTPTransport(config)
    return LogTransport()
