"""Builders shared by the certification, market and statistics tests."""

from __future__ import annotations

from io import BytesIO

import pytest
from werkzeug.datastructures import FileStorage

from bounty.certification.services import (
    CertificationData,
    ComparisonRow,
    EquipmentCategory,
    EvidenceKind,
)
from bounty.challenges.models import Category, ChallengeState
from bounty.extensions import db
from bounty.market.services import ListingData, TransactionType

from ..factories import create_bid, create_challenge, create_user


@pytest.fixture(autouse=True)
def fresh_requests(app):
    """Each test request starts with an empty ``g`` (Flask-Login caches the user there).

    Requests reuse the test's app context; without this a second client in one
    test would act as the first client's user. Redundant once tests/conftest.py
    does the same (other branches add it there).
    """
    from flask import g

    def _fresh_g() -> None:
        g.__dict__.clear()

    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_g)
    yield


PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def completed_challenge(owner=None, winner=None, **fields):
    """A completed challenge with a winning bid; returns (challenge, owner, winner)."""
    owner = owner or create_user("enterprise")
    winner = winner or create_user("institute")
    fields.setdefault("category", Category.complete_equipment)
    challenge = create_challenge(owner, state=ChallengeState.completed, **fields)
    bid = create_bid(challenge, winner)
    challenge.winning_bid_id = bid.id
    db.session.commit()
    return challenge, owner, winner


def pdf_upload(name: str = "doc.pdf") -> FileStorage:
    return FileStorage(stream=BytesIO(PDF_BYTES), filename=name,
                       content_type="application/pdf")


def evidence_files(skip: EvidenceKind | None = None) -> dict[str, FileStorage]:
    return {kind.value: pdf_upload(f"{kind.value}.pdf") for kind in EvidenceKind
            if kind != skip}


def cert_data(category=EquipmentCategory.complete_set, price=800_000, **fields):
    return CertificationData(
        product_name=fields.pop("product_name", "高精度注塑模温控制成套装备"),
        equipment_category=category, price_yuan=price,
        description="国内首台采用模型预测控制的模温成套装备。",
        indicators=fields.pop("indicators", [
            ComparisonRow(name="控温精度", unit="℃", own_value="±0.3", domestic_value="±1.0",
                          foreign_value="±0.5"),
        ]),
    )


def cert_form(category="complete_set", price="800000", skip: str | None = None) -> dict:
    """The application form as a browser posts it (files included)."""
    data = {
        "product_name": "高精度注塑模温控制成套装备", "equipment_category": category,
        "price_yuan": price, "description": "国内首台",
        "indicators-0-name": "控温精度", "indicators-0-unit": "℃",
        "indicators-0-own_value": "±0.3", "indicators-0-domestic_value": "±1.0",
        "indicators-0-foreign_value": "±0.5",
    }
    for kind in EvidenceKind:
        if kind.value != skip:
            data[kind.value] = (BytesIO(PDF_BYTES), f"{kind.value}.pdf")
    return data


def listing_data(**fields) -> ListingData:
    return ListingData(title=fields.pop("title", "模温控制算法专利许可"),
                       summary=fields.pop("summary", "基于模型预测控制的注塑模温控制方法。"),
                       transaction_type=fields.pop("transaction_type", TransactionType.licence),
                       price_yuan=fields.pop("price_yuan", 300_000),
                       negotiable=fields.pop("negotiable", False))
