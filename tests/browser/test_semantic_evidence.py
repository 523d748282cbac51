"""The evaluation page with semantic evidence, in Chromium and Chinese: a reviewer sees
each bid's sentences closest to the challenge and a copied pair side by side. Saves
test-artifacts/evaluation-semantic.png."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bounty.challenges.models import ChallengeState
from bounty.extensions import db

from ..factories import DEFAULT_PASSWORD, create_user
from ..matching.semantic_helpers import embed_pending, make_bid, make_challenge


@pytest.fixture
def live_server_config() -> dict:
    return {"BOUNTY_EMBEDDER": "e5-small"}


def _world(app) -> tuple[int, str]:  # noqa: ANN001
    with app.app_context():
        owner = create_user("enterprise", name="陈晓燕")
        challenge = make_challenge("S04a", owner, state=ChallengeState.evaluating,
                                   deadline_in=timedelta(days=-1))
        for key in ("B04o", "B04c", "B04i1"):
            make_bid(challenge, key, create_user("institute"))
        embed_pending()
        reviewer = create_user("reviewer", name="甲专家", email="semantic-reviewer@example.com")
        db.session.commit()
        return challenge.id, reviewer.email


def test_a_reviewer_reads_the_semantic_evidence(live_server, page, artifacts_dir):
    challenge_id, email = _world(live_server.app)
    page.goto(live_server.url + "/accounts/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{live_server.url}/challenges/{challenge_id}/bids")
    assert page.locator(".closest").count() >= 2
    assert "语义最接近的句子" in page.locator(".closest").first.inner_text()
    copies = page.locator("#bid-copies")
    assert "方案雷同检查" in copies.inner_text()
    assert page.locator(".copy-pair").count() == 1
    assert page.locator(".copy-pair .side-by-side tbody tr").count() >= 3
    page.screenshot(path=str(artifacts_dir / "evaluation-semantic.png"), full_page=True)
