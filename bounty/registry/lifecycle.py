"""What first-set certification and market listings share: a small transition table
and its guard.

Both item kinds follow the challenge's pattern (bounty/challenges/workflow.py): a
table of bounty.transitions, whose ``apply`` is the only code that assigns an item's
state, writing the audit event and sending ``registry_transitioned``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from ..accounts.models import Role
from ..signals import registry_transitioned
from ..transitions import Transition, TransitionTable


class Party(enum.StrEnum):
    owner = "owner"  # an active member of the organisation that owns the item
    reviewer = "reviewer"  # a government reviewer


class Lifecycle(TransitionTable):
    """The transition table of one kind of registry item: its owner is an active member
    of the item's organisation in one of ``owner_roles``; the reviewer, a reviewer."""

    def __init__(self, transitions: Iterable[Transition], labels: dict[str, object],
                 owner_roles: Iterable[Role]):
        self.owner_roles = frozenset(owner_roles)
        super().__init__(transitions, labels, is_party=self._is_party,
                         signal=registry_transitioned,
                         challenge_of=lambda item: item.challenge_id)

    def _is_party(self, item, party: Party, user) -> bool:
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if party is Party.reviewer:
            return user.can_review()
        return user.role in self.owner_roles and user.belongs_to(item.organization_id)
