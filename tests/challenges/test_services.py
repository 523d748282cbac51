"""Challenge services with files: one transaction for the row and its attachments."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bounty.challenges import attachments, services
from bounty.challenges.models import Category, Industry, IPTerms
from bounty.signals import challenge_saved
from bounty.timeutil import utcnow

from ..factories import create_user
from .helpers import PDF, snapshot


def _data() -> services.ChallengeData:
    return services.ChallengeData(
        title="鞋革自动化涂胶工艺", industry=Industry.footwear, category=Category.key_process,
        background="人工涂胶不均。", bottleneck="胶线精度。", expected_outcome="示范线",
        bounty_yuan=200_000, bid_deadline=utcnow() + timedelta(days=10), delivery_months=8,
        ip_terms=IPTerms.enterprise)


def test_failed_save_leaves_no_row_and_no_file(app):
    owner = create_user("enterprise")
    upload = attachments.CheckedUpload(data=PDF, original_name="a.pdf", extension="pdf",
                                       mime_type="application/pdf")
    before = snapshot()

    def explode(sender, **kwargs):
        raise RuntimeError("a receiver failed after the files were written")

    with challenge_saved.connected_to(explode), pytest.raises(RuntimeError):
        services.create_challenge(owner, _data(), uploads=[upload, upload])
    assert snapshot() == before
    services.create_challenge(owner, _data(), uploads=[upload])
    assert len(list(Path(app.config["UPLOAD_FOLDER"]).iterdir())) == 1


def test_update_ignores_attachments_of_other_challenges(app):
    owner = create_user("enterprise")
    upload = attachments.CheckedUpload(data=PDF, original_name="a.pdf", extension="pdf",
                                       mime_type="application/pdf")
    first = services.create_challenge(owner, _data(), uploads=[upload])
    second = services.create_challenge(owner, _data(), uploads=[upload])
    foreign = second.attachments[0].id
    services.update_challenge(first, owner, _data(), remove_attachment_ids=[foreign])
    assert [a.id for a in second.attachments] == [foreign]
