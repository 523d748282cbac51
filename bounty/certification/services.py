"""首台(套)认定 rules: applying, revising, deciding, who sees what, the public register."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage

from ..accounts.models import Organization
from ..challenges import workflow
from ..challenges.attachments import CheckedUpload, check_upload
from ..challenges.models import Challenge, ChallengeState
from ..errors import DomainError, InvalidField, PermissionDenied, TransitionRefused
from ..extensions import db
from ..registry.models import RegistryDocument
from ..registry.services import FileBatch, register_registry_kind
from ..review.models import StageKey
from ..timeutil import utcnow
from ..transactions import atomic
from ..web.template_helpers import format_yuan
from .models import (
    CERTIFICATE_PREFIX,
    DEFAULT_PRICE_FLOORS,
    EQUIPMENT_CATEGORIES,
    LIFECYCLE,
    CertificationApplication,
    CertificationIndicator,
    CertificationState,
    EquipmentCategory,
    EvidenceKind,
)

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
        raise InvalidField(errors=errors)
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
    :raises InvalidField: with a message per field (missing document, price
        under the floor...); nothing is written.
    """
    check_can_apply(challenge, user)
    checked = _validate(data, files, {})
    with FileBatch() as batch, atomic(str(_l("该榜单已提交过首台（套）认定申请。"))):
        application = CertificationApplication(
            challenge_id=challenge.id, organization_id=challenge.organization_id,
            applicant_id=user.id, submitted_at=utcnow())
        _apply_data(application, data)
        LIFECYCLE.apply(application, "apply", user)
        _store_files(batch, application, user, checked)
    return application


def resubmit_certification(application: CertificationApplication, user,
                           data: CertificationData,
                           files: Mapping[str, FileStorage | None]) -> CertificationApplication:
    """Revise a returned application and send it back; new uploads replace earlier ones."""
    LIFECYCLE.find(application, "resubmit", user)
    checked = _validate(data, files, application.evidence)
    with FileBatch() as batch, atomic():
        _apply_data(application, data)
        application.submitted_at = utcnow()
        _store_files(batch, application, user, checked)
        LIFECYCLE.apply(application, "resubmit", user)
    return application


# --------------------------------------------------------------------------- visibility


def can_view_application(application: CertificationApplication, user) -> bool:
    """Certified: public. Before that: the applying enterprise, reviewers and admins."""
    return application.is_public or can_view_evidence(application, user)


def can_view_evidence(application: CertificationApplication, user) -> bool:
    if user is not None and user.is_staff:
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


register_registry_kind(
    name="certification", model=CertificationApplication,
    submitted=CertificationState.submitted, stage=StageKey.certification,
    lifecycle=LIFECYCLE, prefix=CERTIFICATE_PREFIX, number_attr="certificate_number",
    at_attr="certified_at", title=lambda a: a.product_name,
    endpoint="certification.detail", id_arg="application_id", owner_column="certification_id",
)
