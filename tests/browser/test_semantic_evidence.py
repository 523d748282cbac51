"""Semantic evidence in Chromium and Chinese: on the evaluation page a reviewer sees each
bid's sentences closest to the challenge and a copied pair side by side; on the 审题
decision page, the 相似榜单 of another enterprise. Saves test-artifacts/
evaluation-semantic.png and review-similar-challenges.png."""

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


def _world(app) -> tuple[int, int, str]:  # noqa: ANN001
    with app.app_context():
        owner = create_user("enterprise", name="陈晓燕")
        challenge = make_challenge("S04a", owner, state=ChallengeState.evaluating,
                                   deadline_in=timedelta(days=-1))
        for key in ("B04o", "B04c", "B04i1"):
            make_bid(challenge, key, create_user("institute"))
        make_challenge("S01b", state=ChallengeState.open)
        submitted = make_challenge("S01a", owner, state=ChallengeState.vetting)
        embed_pending()
        reviewer = create_user("reviewer", name="甲专家", email="semantic-reviewer@example.com")
        db.session.commit()
        return challenge.id, submitted.id, reviewer.email


def test_a_reviewer_reads_the_semantic_evidence(live_server, page, artifacts_dir):
    challenge_id, submitted_id, email = _world(live_server.app)
    page.goto(live_server.url + "/accounts/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()

    page.goto(f"{live_server.url}/challenges/{challenge_id}/bids")
    assert page.locator(".closest").count() >= 2
    assert "语义最接近的句子" in page.locator(".closest").first.inner_text()
    copies = page.locator("#bid-copies")
    assert "方案雷同检查" in copies.inner_text()
    assert page.locator(".copy-pair").count() == 1
    assert page.locator(".copy-pair .side-by-side tbody tr").count() >= 3
    page.screenshot(path=str(artifacts_dir / "evaluation-semantic.png"), full_page=True)

    page.goto(f"{live_server.url}/review/challenges/{submitted_id}")
    similar = page.locator("#similar-challenges")
    assert "相似榜单" in similar.inner_text()
    assert similar.locator("li").count() == 1
    assert "纯钛镜框焊接发黑与脱焊问题攻关" in similar.inner_text()
    page.screenshot(path=str(artifacts_dir / "review-similar-challenges.png"), full_page=True)
