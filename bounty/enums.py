"""Enums whose members carry a translated label for the interface."""

from __future__ import annotations

import enum
from collections.abc import Mapping


class LabelledEnum(enum.StrEnum):
    """A StrEnum with ``member.label``; the class's ``label_map`` (set next to it, as a
    dict of lazy_gettext strings) gives the text, translated when it is read."""

    label_map: Mapping

    @property
    def label(self) -> str:
        return str(type(self).label_map[self])
