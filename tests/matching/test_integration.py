"""The index follows the database through the app's session hooks."""

from __future__ import annotations

from bounty.challenges.models import BidState, ChallengeState
from bounty.extensions import db
from bounty.matching import Filters, get_engine
from tests.factories import create_bid, create_challenge


def test_index_follows_commits(app):
    open_ch = create_challenge(state=ChallengeState.open, title="鞋底注塑模具温控")
    draft = create_challenge(state=ChallengeState.draft, title="鞋底材料草稿")
    engine = get_engine()
    assert [h.id for h in engine.search("鞋底").hits] == [str(open_ch.id)]

    bid = create_bid(open_ch)
    withdrawn = create_bid(open_ch, state=BidState.withdrawn)
    ranked = engine.rank({"title": open_ch.title, "body": open_ch.bottleneck}, kind="bid",
                         filters=Filters(challenge_id=str(open_ch.id)))
    assert [h.id for h in ranked] == [str(bid.id)]
    assert str(withdrawn.id) not in {h.id for h in engine.search("模温", kind="bid").hits}

    bid.state = BidState.withdrawn
    db.session.commit()
    assert engine.rank({"title": open_ch.title}, kind="bid",
                       filters=Filters(challenge_id=str(open_ch.id))) == []

    db.session.delete(draft)
    open_ch.state = ChallengeState.failed
    db.session.commit()
    assert engine.search("鞋底").hits[0].fields["state"] == "failed"
    assert not engine.journal.pending()


def test_reindex_command(app):
    create_challenge(state=ChallengeState.open, title="伺服电机操动机构")
    result = app.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    assert "reindexed" in result.output
    assert get_engine().search("伺服电机").total == 1
