"""Domain errors raised by services and turned into messages by views and the CLI."""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the action; the message is shown to the user as is."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PermissionDenied(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class TransitionRefused(DomainError):
    """The life-cycle table does not allow this action in this state for this user."""

    status_code = 409


class CommentRequired(TransitionRefused):
    """The transition needs a comment saying why (a return or a rejection): an error of
    the form's comment field."""

    status_code = 422
    field = "comment"


class ConcurrentUpdate(DomainError):
    """Someone else changed the object first; the user should reload and retry."""

    status_code = 409


class InvalidField(DomainError):
    """A rule refused input: ``field`` names the form field the message belongs next to;
    ``errors`` maps each refused field to its message when several are refused at once."""

    def __init__(self, message: str = "", field: str | None = None, *,
                 errors: dict[str, str] | None = None):
        self.errors = dict(errors) if errors else ({field: message} if field else {})
        super().__init__(message or "；".join(self.errors.values()))
        self.field = field if field is not None else next(iter(self.errors), None)
