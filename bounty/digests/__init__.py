"""Subscriptions, scheduled digests and transactional notifications, sent through an outbox."""


def init_app(app) -> None:
    """Connect the notification receivers to the domain signals (once per process:
    blinker keeps the connections, whichever app sends)."""
    from . import notifications  # noqa: F401  (connects the signal receivers)
