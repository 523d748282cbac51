"""Subscriptions, scheduled digests and transactional notifications, sent through an outbox."""
