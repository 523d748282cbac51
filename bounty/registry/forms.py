"""What the forms of certification and market pages share."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import FieldList
from wtforms.validators import NumberRange

from ..challenges.models import MAX_BOUNTY_YUAN

PRICE = NumberRange(min=1, max=MAX_BOUNTY_YUAN, message=_l("请输入正整数金额（元）。"))


class ShowsServiceErrors:
    """Puts a service's per-field messages next to their fields (others above the form)."""

    def show_errors(self, errors: dict[str, str]) -> None:
        self.extra_errors = {}
        for name, message in errors.items():
            field = self._fields.get(name)
            if field is not None and not isinstance(field, FieldList):
                field.errors = [*field.errors, message]
            else:
                self.extra_errors[name] = message

    def show_message(self, message: str) -> None:
        self.extra_errors = {"form": message}
