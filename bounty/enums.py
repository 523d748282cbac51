"""Enums whose members carry a translated label for the interface."""

from __future__ import annotations

import enum

import sqlalchemy as sa


class LabelledEnum(enum.StrEnum):
    """A StrEnum whose members carry their label: ``approve = "approve", _l("通过")``.

    ``member.label`` is the text, translated when it is read; ``member.lazy_label`` the
    lazy string itself (for form choices built before a request's locale is known).
    """

    def __new__(cls, value: str, label=None):
        member = str.__new__(cls, value)
        member._value_ = value
        member.lazy_label = label if label is not None else value
        return member

    @property
    def label(self) -> str:
        return str(self.lazy_label)


def enum_column(cls: type[enum.Enum], length: int = 30) -> sa.Enum:
    """A column type storing the enum's values as strings, refusing unknown ones."""
    return sa.Enum(cls, native_enum=False, length=length, validate_strings=True)
