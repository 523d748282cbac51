"""Expert scoring against a stage's rubric (e.g. 揭榜结果审核: 技术先进性, 可行性,
团队基础, 报价合理性; 0–10 each, weighted).

Reviewers score independently: nobody sees another reviewer's scores of a
round until they submitted their own (admins always may). A submitted sheet is
final. The summary shows each sheet, the weighted mean, the spread, and flags
disagreement when the spread is above the configured limit.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..audit import record_event
from ..errors import InvalidField, TransitionRefused
from ..extensions import db
from ..limits import bounded_text
from ..timeutil import UTCDateTime, utcnow
from ..transactions import atomic
from . import items
from .assignment import check_may_vote, ensure_round, round_tasks
from .stages import StageKey, get_stage

MAX_SCORE = 10
DEFAULT_SPREAD_LIMIT = 3.0


class ScoreSheet(db.Model):
    """One reviewer's scores of one item in one review round."""

    __tablename__ = "review_score_sheets"
    __table_args__ = (sa.UniqueConstraint("item_key", "stage", "round", "reviewer_id",
                                          name="uq_review_score_sheets_reviewer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_key: Mapped[str] = mapped_column(sa.String(40), index=True)
    stage: Mapped[StageKey] = mapped_column(sa.Enum(StageKey, native_enum=False, length=20))
    round: Mapped[int]
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True)
    # The bid scored at 揭榜结果审核 (the enterprise's choice); None elsewhere.
    bid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bids.id", ondelete="SET NULL"))
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    comment: Mapped[str] = bounded_text(5_000, default="")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    reviewer: Mapped[User] = relationship()
    scores: Mapped[list[Score]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", order_by="Score.position")

    @property
    def weighted(self) -> float:
        total = sum(s.weight for s in self.scores)
        return round(sum(s.weight * s.value for s in self.scores) / total, 2) if total else 0.0

    def value_of(self, criterion: str) -> int | None:
        return next((s.value for s in self.scores if s.criterion == criterion), None)


class Score(db.Model):
    """One criterion's score on a sheet; the criterion's name and weight are copied so a
    later rubric change does not rewrite history."""

    __tablename__ = "review_scores"
    __table_args__ = (sa.CheckConstraint(f"value BETWEEN 0 AND {MAX_SCORE}", name="value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(
        sa.ForeignKey("review_score_sheets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    criterion: Mapped[str] = mapped_column(sa.String(50))
    weight: Mapped[int]
    value: Mapped[int]

    sheet: Mapped[ScoreSheet] = relationship(back_populates="scores")


def spread_limit() -> float:
    return float(current_app.config.get("REVIEW_SCORE_SPREAD_LIMIT", DEFAULT_SPREAD_LIMIT))


def current_round(item, stage: StageKey) -> int | None:
    tasks = round_tasks(item, stage)
    return tasks[0].round if tasks else None


def sheets_of(item, stage: StageKey, round_no: int | None) -> list[ScoreSheet]:
    if round_no is None:
        return []
    return list(db.session.execute(sa.select(ScoreSheet).where(
        ScoreSheet.item_key == items.item_key(item), ScoreSheet.stage == stage,
        ScoreSheet.round == round_no).order_by(ScoreSheet.submitted_at, ScoreSheet.id)).scalars())


def own_sheet(item, stage: StageKey, round_no: int | None, user) -> ScoreSheet | None:
    return next((s for s in sheets_of(item, stage, round_no) if s.reviewer_id == user.id), None)


def submit_scores(item, user, values: dict[str, int | None], comment: str = "") -> ScoreSheet:
    """Submit this reviewer's scores of the item at the stage it waits at (final).

    :param values: criterion name -> score 0..10; every criterion of the rubric.
    """
    stage = items.current_stage(item)
    if stage is None:
        raise TransitionRefused(str(_l("该事项当前不在审核阶段，不能评分。")))
    config = get_stage(stage)
    if not config.criteria:
        raise TransitionRefused(str(_l("「%(stage)s」阶段没有评分细则。",
                                       stage=config.display_name)))
    check_may_vote(item, stage, user)  # who may decide here may score here
    errors = []
    for criterion in config.criteria:
        value = values.get(criterion.name)
        if value is None or not 0 <= value <= MAX_SCORE:
            errors.append(criterion.name)
    if errors:
        raise InvalidField(str(_l("请为%(names)s打分（0 至 10 的整数）。",
                                  names=str(_l("、")).join(errors))), "scores")
    with atomic(str(_l("您已提交过本轮评分，评分提交后不能修改。"))):
        tasks = ensure_round(item, config)
        round_no = tasks[0].round
        if own_sheet(item, stage, round_no, user) is not None:
            raise TransitionRefused(str(_l("您已提交过本轮评分，评分提交后不能修改。")))
        challenge = items.challenge_of(item)
        sheet = ScoreSheet(
            item_key=items.item_key(item), stage=stage, round=round_no,
            challenge_id=challenge.id, reviewer_id=user.id, comment=(comment or "").strip(),
            bid_id=challenge.winning_bid_id if stage == StageKey.award else None,
            scores=[Score(position=i, criterion=c.name, weight=c.weight,
                          value=values[c.name]) for i, c in enumerate(config.criteria)])
        db.session.add(sheet)
        db.session.flush()
        record_event(actor=user, action="submit_scores", subject=sheet,
                     comment=f"{sheet.item_key} {stage.value} r{round_no}: "
                             + ", ".join(f"{s.criterion} {s.value}" for s in sheet.scores))
    return sheet


def can_see_scores(item, stage: StageKey, round_no: int | None, user) -> bool:
    """Admins always; a reviewer only after submitting their own sheet of that round."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_admin:
        return True
    return user.can_review() and own_sheet(item, stage, round_no, user) is not None


@dataclass
class CriterionSummary:
    name: str
    weight: int
    mean: float
    spread: int


@dataclass
class ScoreSummary:
    sheets: list[ScoreSheet]
    criteria: list[CriterionSummary]
    mean: float | None  # mean of the weighted scores
    spread: float | None  # max - min of the weighted scores
    limit: float

    @property
    def disagreement(self) -> bool:
        if len(self.sheets) < 2:
            return False
        return (self.spread or 0) > self.limit or any(c.spread > self.limit
                                                      for c in self.criteria)


def summarize(sheets: list[ScoreSheet]) -> ScoreSummary:
    criteria: list[CriterionSummary] = []
    if sheets:
        for score in sheets[0].scores:
            values = [v for v in (s.value_of(score.criterion) for s in sheets) if v is not None]
            criteria.append(CriterionSummary(score.criterion, score.weight,
                                             round(statistics.fmean(values), 2),
                                             max(values) - min(values)))
    weighted = [s.weighted for s in sheets]
    return ScoreSummary(
        sheets=sheets, criteria=criteria,
        mean=round(statistics.fmean(weighted), 2) if weighted else None,
        spread=round(max(weighted) - min(weighted), 2) if weighted else None,
        limit=spread_limit())
