"""首台(套)认定: first-set equipment certification of a completed challenge's result.

The enterprise that posted a completed equipment challenge applies with the
product, its indicators against domestic and foreign comparables, its price
(at least the floor of its equipment category) and four evidence documents.
A reviewer approves, returns or rejects; approval issues a certificate number
(OH-STT-<year>-<seq>) and puts the equipment on the public register.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization, Role, User
from ..challenges.models import Category, Challenge
from ..challenges.services import register_event_subject
from ..enums import LabelledEnum, enum_column
from ..extensions import db
from ..limits import bounded_text
from ..registry.lifecycle import Lifecycle, Party, Transition
from ..registry.models import RegistryDocument
from ..review.models import ReviewDecision
from ..timeutil import UTCDateTime, utcnow

CERTIFICATE_PREFIX = "OH-STT"

# Challenge categories whose result is equipment, and so may be certified.
EQUIPMENT_CATEGORIES = frozenset({Category.complete_equipment, Category.first_set})


class EquipmentCategory(LabelledEnum):
    complete_set = "complete_set", _l("成套装备")
    single_machine = "single_machine", _l("单台设备")
    core_component = "core_component", _l("核心部件")


# The usual floors; app.config["CERTIFICATION_PRICE_FLOORS"] overrides any of them.
DEFAULT_PRICE_FLOORS = {
    EquipmentCategory.complete_set: 500_000,
    EquipmentCategory.single_machine: 200_000,
    EquipmentCategory.core_component: 100_000,
}


class EvidenceKind(LabelledEnum):
    invention_patent = "invention_patent", _l("发明专利证书")
    test_report = "test_report", _l("具备资质的检测机构出具的检测报告")
    novelty_search = "novelty_search", _l("查新报告")
    user_report = "user_report", _l("用户使用报告")


class CertificationState(LabelledEnum):
    submitted = "submitted", _l("待审核")
    returned = "returned", _l("退回修改")
    rejected = "rejected", _l("不予通过")
    certified = "certified", _l("已认定")


class CertificationApplication(db.Model):
    """An enterprise's application for first-set certification of one challenge's result."""

    __tablename__ = "certification_applications"
    __table_args__ = (
        sa.CheckConstraint("price_yuan > 0 AND price_yuan <= 10000000000", name="price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One application per challenge: a returned one is revised, a rejected one is final.
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), unique=True
    )
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    applicant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    product_name: Mapped[str] = mapped_column(sa.String(200))
    equipment_category: Mapped[EquipmentCategory] = mapped_column(enum_column(EquipmentCategory))
    price_yuan: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str] = bounded_text(5_000, default="")
    state: Mapped[CertificationState] = mapped_column(enum_column(CertificationState), index=True)
    certificate_number: Mapped[str | None] = mapped_column(sa.String(30), unique=True)
    certified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    challenge: Mapped[Challenge] = relationship()
    organization: Mapped[Organization] = relationship()
    applicant: Mapped[User] = relationship()
    indicators: Mapped[list[CertificationIndicator]] = relationship(
        back_populates="application", cascade="all, delete-orphan",
        order_by="CertificationIndicator.position",
    )
    documents: Mapped[list[RegistryDocument]] = relationship(
        primaryjoin="RegistryDocument.certification_id == CertificationApplication.id",
        viewonly=True, order_by="RegistryDocument.id",
    )
    decisions: Mapped[list[ReviewDecision]] = relationship(
        primaryjoin="ReviewDecision.certification_id == CertificationApplication.id",
        viewonly=True, order_by="ReviewDecision.id",
    )

    @property
    def evidence(self) -> dict[EvidenceKind, RegistryDocument]:
        """The current document of each kind (a revision's upload replaces the earlier one)."""
        current: dict[EvidenceKind, RegistryDocument] = {}
        for document in self.documents:
            current[EvidenceKind(document.kind)] = document
        return current

    @property
    def is_public(self) -> bool:
        return self.state == CertificationState.certified


class CertificationIndicator(db.Model):
    """One main technical indicator, against the best domestic and foreign comparables."""

    __tablename__ = "certification_indicators"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("certification_applications.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(50), default="")
    own_value: Mapped[str] = mapped_column(sa.String(200))
    domestic_value: Mapped[str] = mapped_column(sa.String(200), default="")
    foreign_value: Mapped[str] = mapped_column(sa.String(200), default="")

    application: Mapped[CertificationApplication] = relationship(back_populates="indicators")


S = CertificationState
LIFECYCLE = Lifecycle(
    (
        Transition("apply", None, S.submitted, Party.owner),
        Transition("resubmit", S.returned, S.submitted, Party.owner),
        Transition("approve", S.submitted, S.certified, Party.reviewer),
        Transition("return", S.submitted, S.returned, Party.reviewer, True),
        Transition("reject", S.submitted, S.rejected, Party.reviewer, True),
    ),
    labels={
        "apply": _l("申请首台（套）认定"),
        "resubmit": _l("修改后重新提交"),
        "approve": _l("认定通过"),
        "return": _l("退回修改"),
        "reject": _l("不予通过"),
    },
    owner_roles={Role.enterprise},
)
register_event_subject("certificationapplication", LIFECYCLE.labels, CertificationState)
