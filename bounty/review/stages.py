"""Review stages as rows: who decides, how many approvals, the time limit, blind review,
and the scoring rubric. Admins edit them; the decision services consult them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Role
from ..audit import record_event
from ..enums import LabelledEnum
from ..errors import InvalidField, PermissionDenied
from ..extensions import db
from ..timeutil import UTCDateTime, utcnow
from ..transactions import atomic
from .models import StageKey


class Decider(LabelledEnum):
    reviewer = "reviewer", _l("审核员")  # any active reviewer
    lead_reviewer = "lead_reviewer", _l("审核组长")  # only reviewers flagged as lead (组长)


MAX_APPROVALS = 9


class ReviewStage(db.Model):
    """One review stage's settings."""

    __tablename__ = "review_stages"
    __table_args__ = (
        sa.CheckConstraint(f"approvals_needed BETWEEN 1 AND {MAX_APPROVALS}", name="approvals"),
        sa.CheckConstraint("time_limit_days BETWEEN 1 AND 365", name="time_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[StageKey] = mapped_column(
        sa.Enum(StageKey, native_enum=False, length=20), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(50))
    decider: Mapped[Decider] = mapped_column(
        sa.Enum(Decider, native_enum=False, length=20), default=Decider.reviewer)
    approvals_needed: Mapped[int] = mapped_column(default=1)
    time_limit_days: Mapped[int] = mapped_column(default=5)
    is_blind: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    criteria: Mapped[list[RubricCriterion]] = relationship(
        back_populates="stage", cascade="all, delete-orphan", order_by="RubricCriterion.position")

    @property
    def needs_lead(self) -> bool:
        """Only lead reviewers decide here (User.can_review)."""
        return self.decider == Decider.lead_reviewer

    @property
    def has_rubric(self) -> bool:
        return bool(self.criteria)

    @property
    def display_name(self) -> str:
        """The name to show: the translated label while the default name is kept,
        else the name the admin gave."""
        if self.name == DEFAULT_STAGES[self.key][0]:
            return self.key.label
        return self.name


class RubricCriterion(db.Model):
    """One scoring criterion of a stage's rubric, with its weight (points out of the total)."""

    __tablename__ = "review_rubric_criteria"
    __table_args__ = (sa.CheckConstraint("weight > 0 AND weight <= 100", name="weight"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(sa.ForeignKey("review_stages.id", ondelete="CASCADE"),
                                          index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(50))
    weight: Mapped[int]

    stage: Mapped[ReviewStage] = relationship(back_populates="criteria")


# name, approvals needed, working days, blind, rubric
DEFAULT_STAGES: dict[StageKey, tuple[str, int, int, bool, tuple[tuple[str, int], ...]]] = {
    StageKey.vetting: ("审题", 1, 5, False, ()),
    StageKey.award: ("揭榜结果审核", 1, 10, False,
                     (("技术先进性", 30), ("可行性", 30), ("团队基础", 20), ("报价合理性", 20))),
    StageKey.acceptance: ("验收", 1, 15, False, ()),
    StageKey.certification: ("首台套认定", 1, 20, False, ()),
    StageKey.listing: ("科技大市场挂牌", 1, 5, False, ()),
}


def _missing_stages() -> list[StageKey]:
    present = set(db.session.execute(sa.select(ReviewStage.key)).scalars())
    return [key for key in StageKey if key not in present]


def ensure_default_stages() -> int:
    """Add the stages that are missing, with their defaults; return how many were added.

    They join the caller's transaction (flushed, committed with it): a first use inside
    a service's transaction must not commit that service's half-done work. Two first
    uses racing meet on the unique key, and the loser's transaction is refused.
    """
    missing = _missing_stages()
    for key in missing:
        name, approvals, days, blind, rubric = DEFAULT_STAGES[key]
        stage = ReviewStage(key=key, position=list(StageKey).index(key), name=name,
                            decider=Decider.reviewer, approvals_needed=approvals,
                            time_limit_days=days, is_blind=blind)
        stage.criteria = [RubricCriterion(position=i, name=n, weight=w)
                          for i, (n, w) in enumerate(rubric)]
        db.session.add(stage)
    if missing:
        db.session.flush()
    return len(missing)


def get_stage(key: StageKey | str) -> ReviewStage:
    key = StageKey(key)
    stage = db.session.execute(
        sa.select(ReviewStage).where(ReviewStage.key == key)).scalar_one_or_none()
    if stage is None:
        ensure_default_stages()
        stage = db.session.execute(
            sa.select(ReviewStage).where(ReviewStage.key == key)).scalar_one()
    return stage


def all_stages() -> list[ReviewStage]:
    if _missing_stages():
        ensure_default_stages()
    return list(db.session.execute(
        sa.select(ReviewStage).order_by(ReviewStage.position, ReviewStage.id)).scalars())


def check_may_decide_at(stage: ReviewStage, user) -> None:
    if user is None or not user.can_review(stage):
        if stage.decider == Decider.lead_reviewer and user is not None \
                and user.can_review():
            raise PermissionDenied(str(_l("「%(stage)s」阶段只能由审核组长作出结论。",
                                          stage=stage.display_name)))
        raise PermissionDenied(str(_l("您无权在「%(stage)s」阶段作出审核结论。",
                                      stage=stage.display_name)))


# --------------------------------------------------------------------------- admin


@dataclass
class StageData:
    name: str
    decider: Decider
    approvals_needed: int | None
    time_limit_days: int | None
    is_blind: bool
    rubric: str = ""  # one "name weight" per line


def parse_rubric(text: str) -> list[tuple[str, int]]:
    """'技术先进性 30' per line (a colon, comma or tab also separates) -> [(name, weight)]."""
    rows: list[tuple[str, int]] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        for sep in ("：", ":", "，", ",", "\t"):
            line = line.replace(sep, " ")
        name, _, weight = line.rpartition(" ")
        name = name.strip()
        try:
            value = int(weight)
        except ValueError:
            value = 0
        if not name or not 0 < value <= 100:
            raise InvalidField(str(_l(
                "评分细则第 %(n)d 行应为“指标名称 权重”，权重为 1 至 100 的整数。", n=number)),
                "rubric")
        if any(existing == name for existing, _w in rows):
            raise InvalidField(str(_l("评分指标“%(name)s”重复。", name=name)), "rubric")
        rows.append((name[:50], value))
    return rows


def rubric_text(stage: ReviewStage) -> str:
    return "\n".join(f"{c.name} {c.weight}" for c in stage.criteria)


def update_stage(stage: ReviewStage, actor, data: StageData) -> ReviewStage:
    """An admin changes a stage's settings and rubric; audited.

    New settings apply to decisions from now on; a round already under way keeps
    its slots but needs the new number of approvals.
    """
    if actor is None or not actor.is_admin:
        raise PermissionDenied(str(_l("只有平台管理员可以修改审核阶段设置。")))
    name = (data.name or "").strip()
    if not name:
        raise InvalidField(str(_l("请填写阶段名称。")), "name")
    if data.approvals_needed is None or not 1 <= data.approvals_needed <= MAX_APPROVALS:
        raise InvalidField(str(_l("所需通过人数应为 1 至 %(n)d。", n=MAX_APPROVALS)),
                           "approvals_needed")
    if data.time_limit_days is None or not 1 <= data.time_limit_days <= 365:
        raise InvalidField(str(_l("办理时限应为 1 至 365 个工作日。")), "time_limit_days")
    rubric = parse_rubric(data.rubric)
    with atomic():
        before = (f"{stage.name}/{stage.decider.value}/{stage.approvals_needed}/"
                  f"{stage.time_limit_days}/{int(stage.is_blind)}")
        stage.name = name[:50]
        stage.decider = Decider(data.decider)
        stage.approvals_needed = data.approvals_needed
        stage.time_limit_days = data.time_limit_days
        stage.is_blind = bool(data.is_blind)
        stage.criteria = [RubricCriterion(position=i, name=n, weight=w)
                          for i, (n, w) in enumerate(rubric)]
        after = (f"{stage.name}/{stage.decider.value}/{stage.approvals_needed}/"
                 f"{stage.time_limit_days}/{int(stage.is_blind)}")
        record_event(actor=actor, action="update_review_stage", subject=stage,
                     comment=f"{stage.key.value}: {before} -> {after}; "
                             + "; ".join(f"{n} {w}" for n, w in rubric))
    return stage


def set_lead_reviewer(user, actor, is_lead_reviewer: bool):
    """An admin makes a reviewer a lead reviewer (组长), or takes it back; audited."""
    if actor is None or not actor.is_admin:
        raise PermissionDenied(str(_l("只有平台管理员可以指定审核组长。")))
    if user.role != Role.reviewer:
        raise InvalidField(str(_l("只有审核员可以担任审核组长。")), "user")
    with atomic():
        user.is_lead_reviewer = bool(is_lead_reviewer)
        record_event(actor=actor, action="set_lead_reviewer" if is_lead_reviewer
                     else "unset_lead_reviewer", subject=user)
    return user
