"""A service's refusal shown on the form that asked for it: each message next to the
field it names (``exc.field``, or every field of an :class:`InvalidField`'s ``errors``),
anything else above the form. The one place views turn a DomainError into field errors.
"""

from __future__ import annotations

from wtforms import FieldList

from .errors import DomainError, InvalidField


def show_error(form, exc: DomainError) -> None:
    errors = exc.errors if isinstance(exc, InvalidField) and exc.errors else None
    if errors is None:
        name = getattr(exc, "field", None)
        errors = {name: exc.message} if name else {}
    if not errors:
        form.form_errors.append(exc.message)
    for name, message in errors.items():
        field = form._fields.get(name)
        if field is None or isinstance(field, FieldList):
            form.form_errors.append(message)
        else:
            field.errors = [*field.errors, message]
