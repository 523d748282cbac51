"""首台(套)认定: first-set equipment certification of a completed challenge's result.

The enterprise that posted a completed equipment challenge applies with the
product, its indicators against domestic and foreign comparables, its price
(at least the floor of its equipment category) and four evidence documents.
A reviewer approves, returns or rejects; approval issues a certificate number
(OH-STT-<year>-<seq>) and puts the equipment on the public register.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.datastructures import FileStorage

from ..accounts.models import Organization, Role, User
from ..challenges import workflow
from ..challenges.attachments import CheckedUpload, check_upload
from ..challenges.models import Category, Challenge, ChallengeState
from ..challenges.services import register_event_subject
from ..enums import LabelledEnum
from ..errors import DomainError, PermissionDenied, TransitionRefused
from ..extensions import db
from ..limits import bounded_text
from ..timeutil import UTCDateTime, to_local, utcnow
from ..transactions import atomic
from ..web.template_helpers import format_yuan
from .models import Outcome
from .registry import (
    OUTCOME_ACTIONS,
    FileBatch,
    InvalidSubmission,
    Lifecycle,
    Party,
    RegistryDecision,
    RegistryDocument,
    Transition,
    check_version,
    next_number,
    retrying,
)

CERTIFICATE_PREFIX = "OH-STT"

# Challenge categories whose result is equipment, and so may be certified.
EQUIPMENT_CATEGORIES = frozenset({Category.complete_equipment, Category.first_set})


def _enum(cls: type[enum.Enum], length: int = 30) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=length, validate_strings=True)


class EquipmentCategory(LabelledEnum):
    complete_set = "complete_set"
    single_machine = "single_machine"
    core_component = "core_component"


EQUIPMENT_CATEGORY_LABELS = {
    EquipmentCategory.complete_set: _l("成套装备"),
    EquipmentCategory.single_machine: _l("单台设备"),
    EquipmentCategory.core_component: _l("核心部件"),
}
EquipmentCategory.label_map = EQUIPMENT_CATEGORY_LABELS

# The usual floors; app.config["CERTIFICATION_PRICE_FLOORS"] overrides any of them.
DEFAULT_PRICE_FLOORS = {
    EquipmentCategory.complete_set: 500_000,
    EquipmentCategory.single_machine: 200_000,
    EquipmentCategory.core_component: 100_000,
}


class EvidenceKind(LabelledEnum):
    invention_patent = "invention_patent"
    test_report = "test_report"
    novelty_search = "novelty_search"
    user_report = "user_report"


EVIDENCE_LABELS = {
    EvidenceKind.invention_patent: _l("发明专利证书"),
    EvidenceKind.test_report: _l("具备资质的检测机构出具的检测报告"),
    EvidenceKind.novelty_search: _l("查新报告"),
    EvidenceKind.user_report: _l("用户使用报告"),
}
EvidenceKind.label_map = EVIDENCE_LABELS


class CertificationState(LabelledEnum):
    submitted = "submitted"
    returned = "returned"
    rejected = "rejected"
    certified = "certified"


CERTIFICATION_STATE_LABELS = {
    CertificationState.submitted: _l("待审核"),
    CertificationState.returned: _l("退回修改"),
    CertificationState.rejected: _l("不予通过"),
    CertificationState.certified: _l("已认定"),
}
CertificationState.label_map = CERTIFICATION_STATE_LABELS


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
    equipment_category: Mapped[EquipmentCategory] = mapped_column(_enum(EquipmentCategory))
    price_yuan: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str] = bounded_text(5_000, default="")
    state: Mapped[CertificationState] = mapped_column(_enum(CertificationState), index=True)
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
    decisions: Mapped[list[RegistryDecision]] = relationship(
        primaryjoin="RegistryDecision.certification_id == CertificationApplication.id",
        viewonly=True, order_by="RegistryDecision.id",
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


# --------------------------------------------------------------------------- rules


def price_floors() -> dict[EquipmentCategory, int]:
    floors = dict(DEFAULT_PRICE_FLOORS)
    for key, value in (current_app.config.get("CERTIFICATION_PRICE_FLOORS") or {}).items():
        floors[EquipmentCategory(key)] = int(value)
    return floors


@dataclass
class ComparisonRow:
    name: str
    own_value: str
    unit: str = ""
    domestic_value: str = ""
    foreign_value: str = ""


@dataclass
class CertificationData:
    """What the application form collects, already parsed (money in yuan)."""

    product_name: str
    equipment_category: EquipmentCategory
    price_yuan: int | None
    description: str = ""
    indicators: list[ComparisonRow] = field(default_factory=list)


def _validate(data: CertificationData, files: Mapping[str, FileStorage | None],
              existing: Mapping[EvidenceKind, RegistryDocument]) -> dict[EvidenceKind,
                                                                         CheckedUpload]:
    errors: dict[str, str] = {}
    if not data.product_name.strip():
        errors["product_name"] = str(_l("请填写产品名称。"))
    floor = price_floors()[data.equipment_category]
    if data.price_yuan is None or data.price_yuan <= 0:
        errors["price_yuan"] = str(_l("请填写产品单价（元）。"))
    elif data.price_yuan < floor:
        errors["price_yuan"] = str(_l(
            "%(category)s的单价不得低于 %(floor)s，当前为 %(price)s 元。",
            category=data.equipment_category.label, floor=format_yuan(floor),
            price=f"{data.price_yuan:,}"))
    rows = [row for row in data.indicators if row.name.strip() or row.own_value.strip()]
    if not rows:
        errors["indicators"] = str(_l("请至少填写一项主要技术指标及其国内外对比。"))
    elif any(not row.name.strip() or not row.own_value.strip()
             or not (row.domestic_value.strip() or row.foreign_value.strip()) for row in rows):
        errors["indicators"] = str(_l(
            "每项技术指标须填写名称、本产品数值，以及国内或国外同类产品的对比数值。"))
    checked: dict[EvidenceKind, CheckedUpload] = {}
    for kind in EvidenceKind:
        upload = files.get(kind.value)
        if upload is not None and upload.filename:
            try:
                checked[kind] = check_upload(upload)
            except DomainError as exc:
                errors[kind.value] = exc.message
        elif kind not in existing:
            errors[kind.value] = str(_l("请上传%(document)s。", document=kind.label))
    if errors:
        raise InvalidSubmission(errors)
    return checked


def _apply_data(application: CertificationApplication, data: CertificationData) -> None:
    application.product_name = data.product_name.strip()
    application.equipment_category = data.equipment_category
    application.price_yuan = data.price_yuan
    application.description = data.description.strip()
    application.indicators = [
        CertificationIndicator(position=i, name=row.name.strip(), unit=row.unit.strip(),
                               own_value=row.own_value.strip(),
                               domestic_value=row.domestic_value.strip(),
                               foreign_value=row.foreign_value.strip())
        for i, row in enumerate(data.indicators) if row.name.strip()
    ]


def application_for(challenge: Challenge) -> CertificationApplication | None:
    return db.session.execute(
        sa.select(CertificationApplication).where(
            CertificationApplication.challenge_id == challenge.id)
    ).scalar_one_or_none()


def check_can_apply(challenge: Challenge, user) -> None:
    """Raise unless this user may apply for this challenge now."""
    if not workflow.actor_matches(challenge, workflow.Actor.owner, user):
        raise PermissionDenied(str(_l("只有发榜企业可以申请首台（套）认定。")))
    if challenge.state != ChallengeState.completed:
        raise TransitionRefused(str(_l("只有验收通过（已完成）的榜单可以申请首台（套）认定。")))
    if challenge.category not in EQUIPMENT_CATEGORIES:
        raise TransitionRefused(str(_l("该榜单的成果不属于装备类，不能申请首台（套）认定。")))
    if application_for(challenge) is not None:
        raise TransitionRefused(str(_l("该榜单已提交过首台（套）认定申请。")))


def can_apply(challenge: Challenge, user) -> bool:
    try:
        check_can_apply(challenge, user)
    except DomainError:
        return False
    return True


def _store_files(batch: FileBatch, application: CertificationApplication, user,
                 checked: Mapping[EvidenceKind, CheckedUpload]) -> None:
    for kind, upload in checked.items():
        batch.store(upload, user=user, kind=kind.value, certification_id=application.id)


def apply_for_certification(challenge: Challenge, user, data: CertificationData,
                            files: Mapping[str, FileStorage | None]) -> CertificationApplication:
    """Apply for first-set certification of a completed equipment challenge's result.

    :param files: one upload per :class:`EvidenceKind` value; each is required.
    :raises InvalidSubmission: with a message per field (missing document, price
        under the floor...); nothing is written.
    """
    check_can_apply(challenge, user)
    checked = _validate(data, files, {})
    batch = FileBatch()
    try:
        with atomic(str(_l("该榜单已提交过首台（套）认定申请。"))):
            application = CertificationApplication(
                challenge_id=challenge.id, organization_id=challenge.organization_id,
                applicant_id=user.id, submitted_at=utcnow())
            _apply_data(application, data)
            LIFECYCLE.apply(application, "apply", user)
            _store_files(batch, application, user, checked)
    except BaseException:
        batch.discard()
        raise
    return application


def resubmit_certification(application: CertificationApplication, user,
                           data: CertificationData,
                           files: Mapping[str, FileStorage | None]) -> CertificationApplication:
    """Revise a returned application and send it back; new uploads replace earlier ones."""
    LIFECYCLE.find(application, "resubmit", user)
    checked = _validate(data, files, application.evidence)
    batch = FileBatch()
    try:
        with atomic():
            _apply_data(application, data)
            application.submitted_at = utcnow()
            _store_files(batch, application, user, checked)
            LIFECYCLE.apply(application, "resubmit", user)
    except BaseException:
        batch.discard()
        raise
    return application


def decide_certification(application: CertificationApplication, outcome: Outcome, user,
                         comment: str = "", *, version: int | None = None) -> RegistryDecision:
    """A reviewer approves, returns or rejects; approval issues the certificate number.

    :param version: the version the reviewer's page showed; a newer one means
        someone else decided first, and this decision is refused.
    """
    from .assignment import check_may_vote, record_partial_approval, record_vote
    from .stages import StageKey

    transition = LIFECYCLE.find(application, OUTCOME_ACTIONS[outcome], user)
    if transition.comment_required and not (comment or "").strip():
        raise TransitionRefused(str(_l("退回或不予通过时必须填写意见。")))
    config = check_may_vote(application, StageKey.certification, user)

    def work() -> RegistryDecision:
        with atomic():
            check_version(application, version)
            vote = record_vote(application, config, user, outcome)
            decision = RegistryDecision(
                challenge_id=application.challenge_id, certification_id=application.id,
                outcome=outcome, comment=(comment or "").strip(), reviewer_id=user.id,
                task_id=vote.task.id)
            db.session.add(decision)
            if not vote.final:
                record_partial_approval(application, user, vote, comment)
                return decision
            LIFECYCLE.apply(application, OUTCOME_ACTIONS[outcome], user, comment)
            if outcome == Outcome.approve:
                application.certificate_number = next_number(CERTIFICATE_PREFIX)
                application.certified_at = utcnow()
        return decision

    return retrying(work)


# --------------------------------------------------------------------------- visibility


def is_staff(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active
                and user.role in (Role.reviewer, Role.admin))


def can_view_application(application: CertificationApplication, user) -> bool:
    """Certified: public. Before that: the applying enterprise, reviewers and admins."""
    return application.is_public or can_view_evidence(application, user)


def can_view_evidence(application: CertificationApplication, user) -> bool:
    if is_staff(user):
        return True
    return bool(user is not None and user.is_authenticated
                and user.belongs_to(application.organization_id))


def register_query(q: str = "", category: EquipmentCategory | None = None) -> sa.Select:
    """The public register: certified equipment, newest first, optionally searched."""
    query = (sa.select(CertificationApplication)
             .join(Organization, Organization.id == CertificationApplication.organization_id)
             .where(CertificationApplication.state == CertificationState.certified))
    if q := q.strip():
        pattern = f"%{q}%"
        query = query.where(sa.or_(CertificationApplication.product_name.ilike(pattern),
                                   CertificationApplication.certificate_number.ilike(pattern),
                                   Organization.name.ilike(pattern)))
    if category is not None:
        query = query.where(CertificationApplication.equipment_category == category)
    return query.order_by(CertificationApplication.certified_at.desc(),
                          CertificationApplication.id.desc())


def pending_applications() -> list[CertificationApplication]:
    """Applications waiting for review, with what the review list shows (the applicant;
    the challenge's bids, which say who is a party)."""
    return list(db.session.execute(
        sa.select(CertificationApplication)
        .where(CertificationApplication.state == CertificationState.submitted)
        .order_by(CertificationApplication.submitted_at, CertificationApplication.id)
        .options(sa.orm.joinedload(CertificationApplication.organization),
                 sa.orm.joinedload(CertificationApplication.challenge).selectinload(
                     Challenge.bids))
    ).unique().scalars())


# --------------------------------------------------------------------------- certificate PDF

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
_FONT_HINTS = ("notosanscjk", "notoserifcjk", "sourcehansans", "sourcehanserif", "wqy",
               "droidsansfallback", "simsun", "simhei", "msyh")


@cache
def _find_cjk_font(dirs: tuple[str, ...]) -> tuple[str, int] | None:
    """A CJK font installed on the system: (path, index in a collection), or None."""
    candidates = []
    for folder in dirs:
        root = Path(folder)
        if root.is_dir():
            candidates += [p for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".ttc",
                                                                              ".otf")]
    candidates = sorted(
        (p for p in candidates if any(h in p.name.lower().replace("-", "")
                                      for h in _FONT_HINTS)),
        key=lambda p: ("bold" in p.name.lower(), "serif" in p.name.lower(), p.name))
    for path in candidates:
        if path.suffix.lower() != ".ttc":
            return str(path), 0
        from fontTools.ttLib import TTCollection

        with TTCollection(str(path), lazy=True) as collection:
            for index, font in enumerate(collection.fonts):
                name = font["name"].getDebugName(1) or ""
                if name.endswith(" SC") or "SC" in name.split():
                    return str(path), index
        return str(path), 0
    return None


def cjk_font() -> tuple[str, int] | None:
    return _find_cjk_font(tuple(current_app.config.get("CERTIFICATE_FONT_DIRS", FONT_DIRS)))


def certificate_pdf(application: CertificationApplication) -> bytes | None:
    """The printable certificate, or None when no CJK font is installed (use the HTML page)."""
    if application.certificate_number is None:
        raise TransitionRefused(str(_l("该申请尚未通过认定，没有证书。")))
    font = cjk_font()
    if font is None:
        return None
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    number = application.certificate_number
    certified = to_local(application.certified_at)
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(application.certified_at)
    pdf.set_title(number)
    pdf.set_subject(number)
    pdf.set_creator("bounty")
    pdf.add_font("cjk", fname=font[0], collection_font_number=font[1])
    pdf.add_page()
    pdf.set_draw_color(183, 28, 28)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 190, 277)
    pdf.set_font("cjk", size=24)
    pdf.set_y(30)
    pdf.cell(0, 14, str(_l("首台（套）装备认定证书")), align="C",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 10, str(_l("证书编号：%(number)s", number=number)), align="C",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)
    rows = [
        (_l("产品名称"), application.product_name),
        (_l("装备类别"), application.equipment_category.label),
        (_l("申请单位"), application.organization.name),
        (_l("统一社会信用代码"), application.organization.uscc),
        (_l("产品单价"), f"{application.price_yuan:,} 元"),
        (_l("来源榜单"), application.challenge.title),
        (_l("认定日期"), certified.strftime("%Y-%m-%d") if certified else ""),
    ]
    pdf.set_x(25)
    for label, value in rows:
        pdf.set_x(25)
        pdf.cell(40, 9, str(label))
        pdf.multi_cell(120, 9, str(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if application.indicators:
        pdf.ln(6)
        pdf.set_x(25)
        pdf.cell(0, 9, str(_l("主要技术指标")), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("cjk", size=10)
        from fpdf.fonts import FontFace

        with pdf.table(col_widths=(40, 30, 30, 30), text_align="LEFT", width=160,
                       headings_style=FontFace(emphasis=None, fill_color=(245, 245, 245))
                       ) as table:
            header = table.row()
            for title in (_l("指标"), _l("本产品"), _l("国内同类"), _l("国外同类")):
                header.cell(str(title))
            for indicator in application.indicators:
                row = table.row()
                unit = f"（{indicator.unit}）" if indicator.unit else ""
                row.cell(indicator.name + unit)
                row.cell(indicator.own_value)
                row.cell(indicator.domestic_value or "—")
                row.cell(indicator.foreign_value or "—")
    pdf.set_font("cjk", size=12)
    pdf.set_y(250)
    pdf.cell(0, 9, str(_l("瓯海揭榜挂帅平台")), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
