"""One small transition-table helper: the challenge's life (bounty/challenges/workflow.py)
and each registry item's (bounty/registry/lifecycle.py) are tables of it.

A table lists its transitions; :meth:`TransitionTable.find` is the one guard and
:meth:`TransitionTable.apply` the only code that assigns an item's state: it checks the
comment a transition requires, writes the audit event and sends the table's signal, in
the caller's transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from blinker import Signal
from flask_babel import lazy_gettext as _l

from .audit import record_event
from .errors import CommentRequired, PermissionDenied, TransitionRefused
from .extensions import db


@dataclass(frozen=True)
class Transition:
    action: str
    source: enum.Enum | None  # None: the item is being created
    target: enum.Enum
    party: enum.Enum  # who may take it; the table's ``is_party`` decides who that is
    comment_required: bool = False

    def checked_comment(self, comment: str | None) -> str:
        """The comment, stripped; the rule that a return or rejection says why."""
        comment = (comment or "").strip()
        if self.comment_required and not comment:
            raise CommentRequired(str(_l("退回或不予通过时必须填写意见。")))
        return comment


def _refused(state: str, action: str) -> str:
    return str(_l("当前状态为「%(state)s」，不能执行「%(action)s」。", state=state, action=action))


def _forbidden() -> str:
    return str(_l("您无权执行此操作。"))


class TransitionTable:
    """Transitions with their guard, for one kind of item with a ``state`` column.

    :param labels: action -> label (unknown actions are refused).
    :param is_party: ``(item, party, user) -> bool``: does this user act as that party?
    :param signal: sent after every transition: sender=item; transition, actor, comment.
    :param challenge_of: the id of the challenge the item's audit events belong to.
    :param on_change: ``(item, transition, now)``, after the state changed (e.g. a
        publication time).
    """

    def __init__(self, transitions: Iterable[Transition], labels: dict[str, object], *,
                 is_party: Callable[[object, enum.Enum, object], bool], signal: Signal,
                 challenge_of: Callable[[object], int],
                 on_change: Callable[[object, Transition, datetime | None], None] | None = None,
                 refused: Callable[[str, str], str] = _refused,
                 forbidden: Callable[[], str] = _forbidden):
        self.transitions = tuple(transitions)
        self.labels = labels
        self.is_party = is_party
        self.signal = signal
        self.challenge_of = challenge_of
        self.on_change = on_change
        self.refused = refused
        self.forbidden = forbidden
        self._by_key = {(t.action, t.source): t for t in self.transitions}

    def find(self, item, action: str, user) -> Transition:
        """The guard: return the transition, or raise with the reason it is refused."""
        if action not in self.labels:
            raise TransitionRefused(str(_l("未知的操作。")))
        state = item.state
        transition = self._by_key.get((action, state))
        if transition is None:
            raise TransitionRefused(self.refused(state.label if state is not None else "—",
                                                 self.labels[action]))
        if not self.is_party(item, transition.party, user):
            raise PermissionDenied(self.forbidden())
        return transition

    def allowed(self, item, user) -> list[str]:
        """Actions this user may take now: for showing buttons, never for enforcing."""
        return [t.action for t in self.transitions
                if t.source == item.state and self.is_party(item, t.party, user)]

    def apply(self, item, action: str, user, comment: str = "",
              now: datetime | None = None) -> Transition:
        """Move the item along the table, audit it and send the signal, in the caller's
        transaction (the caller commits; a concurrent change fails that commit).

        :param now: when the change takes effect; defaults to the clock.
        """
        transition = self.find(item, action, user)
        comment = transition.checked_comment(comment)
        source = item.state
        item.state = transition.target
        if self.on_change is not None:
            self.on_change(item, transition, now)
        if item.id is None:  # being created: the audit event needs its id
            db.session.add(item)
            db.session.flush()
        record_event(actor=user, action=action, subject=item,
                     challenge_id=self.challenge_of(item),
                     from_state=source.value if source is not None else None,
                     to_state=transition.target.value, comment=comment, at=now)
        self.signal.send(item, transition=transition, actor=user, comment=comment)
        return transition
