"""A damaged or missing index: ``bounty reindex`` rebuilds it from the database alone; a
server finds it at start or on a failed read, logs one line, answers search degraded
(never a 500) and heals itself in the background."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from bounty.accounts.models import Role
from bounty.challenges.models import ChallengeState
from bounty.matching import enable_healing, get_engine
from bounty.matching.healing import PROBLEM_KEY, start_up
from tests.factories import create_challenge, create_user

# the Whoosh index's files and queue (the PostgreSQL index has neither)
pytestmark = pytest.mark.whoosh_index


def _overwrite_toc(gen: Path) -> None:
    for toc in gen.glob("_challenge_*.toc"):
        toc.write_bytes(b"not a table of contents" * 4)


def _delete_segment(gen: Path) -> None:
    for segment in gen.glob("challenge_*.seg"):
        segment.unlink()


def _truncate_postings(gen: Path) -> None:
    # segments are compound files: the postings and the directory of the parts
    for segment in gen.glob("challenge_*.seg"):
        with segment.open("r+b") as f:
            f.truncate(segment.stat().st_size // 2)


def _delete_folder(gen: Path) -> None:
    shutil.rmtree(gen.parent)


DAMAGE = {
    "toc overwritten": _overwrite_toc,
    "segment deleted": _delete_segment,
    "postings truncated": _truncate_postings,
    "folder deleted": _delete_folder,
}


@pytest.fixture
def indexed(app):
    """Two open challenges in the live generation's files, then the engine closed (as
    a stopped server leaves it)."""
    owner = create_user(Role.enterprise)
    ids = [create_challenge(owner, state=ChallengeState.open, title=f"伺服电机温控系统{n}",
                            keywords="伺服电机").id for n in range(2)]
    engine = get_engine()
    engine.flush()
    assert len(engine.search("伺服电机").hits) == 2
    gen = engine.generation()
    assert any(gen.glob("challenge_*.seg"))
    engine.close()
    app.extensions.pop("bounty.matching", None)
    return {"ids": ids, "gen": gen}


def _found(client) -> int:
    response = client.get("/challenges/", query_string={"q": "伺服电机"})
    assert response.status_code == 200
    return response.get_data(as_text=True).count('class="challenge-card"')


@pytest.mark.parametrize("damage", DAMAGE)
def test_reindex_rebuilds_whatever_the_damage(make_app, indexed, damage):
    DAMAGE[damage](indexed["gen"])
    journal = indexed["gen"].parent / "journal.sqlite"  # left by an index before index_jobs
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_bytes(b"corrupt journal")
    fresh = make_app()
    with fresh.app_context():
        result = fresh.test_cli_runner().invoke(args=["reindex"])
        assert result.exit_code == 0, result.output
        assert "reindexed 2 documents" in result.output
        engine = get_engine()
        assert engine.generation() != indexed["gen"]
        assert engine.problem() is None and not journal.exists()
        assert sorted(int(h.id) for h in engine.search("伺服电机").hits) == indexed["ids"]
        engine.close()


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_server_finds_the_damage_at_start_and_heals(make_app, indexed, damage, caplog):
    DAMAGE[damage](indexed["gen"])
    fresh = make_app()
    with fresh.app_context(), caplog.at_level(logging.ERROR, "bounty.matching.whoosh.engine"):
        engine = get_engine()
        start_up(fresh, engine)  # what create_app does outside tests
        assert fresh.extensions[PROBLEM_KEY]
        lines = [r for r in caplog.records if "search index unreadable" in r.getMessage()]
        assert len(lines) == 1
        client = fresh.test_client()
        # still serving: search answers degraded, from the database, with a notice
        response = client.get("/challenges/", query_string={"q": "伺服电机"})
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "搜索索引正在重建" in html
        assert html.count('class="challenge-card"') == 2
        assert client.get("/").status_code == 200
        healer = enable_healing(fresh)  # what `bounty serve` does
        healer.thread.join(timeout=120)
        assert engine.problem() is None and engine.generation() != indexed["gen"]
        assert PROBLEM_KEY not in fresh.extensions
        response = client.get("/challenges/", query_string={"q": "伺服电机"})
        assert "搜索索引正在重建" not in response.get_data(as_text=True)
        assert _found(client) == 2
        engine.close()


@pytest.mark.parametrize("damage", ["toc overwritten", "segment deleted", "folder deleted"])
def test_a_failed_read_starts_one_rebuild(make_app, indexed, damage, caplog):
    fresh = make_app()
    with fresh.app_context(), caplog.at_level(logging.ERROR, "bounty.matching.whoosh.engine"):
        engine = get_engine()
        healer = enable_healing(fresh)  # serving, index fine at start
        assert healer.thread is None
        DAMAGE[damage](indexed["gen"])
        client = fresh.test_client()
        response = client.get("/challenges/", query_string={"q": "伺服电机"})
        assert response.status_code == 200
        assert "搜索索引正在重建" in response.get_data(as_text=True)
        first = healer.thread
        assert first is not None
        first.join(timeout=120)
        assert len([r for r in caplog.records
                    if "search index unreadable" in r.getMessage()]) == 1
        assert _found(client) == 2
        assert healer.thread is first  # no second rebuild
        engine.close()


def test_a_missing_folder_with_documents_is_rebuilt_not_empty(app, make_app, indexed):
    _delete_folder(indexed["gen"])
    assert not Path(app.config["BOUNTY_INDEX_DIR"]).exists()
    fresh = make_app()
    with fresh.app_context():
        engine = get_engine()
        start_up(fresh, engine)
        assert "missing" in fresh.extensions[PROBLEM_KEY]
        enable_healing(fresh).thread.join(timeout=120)
        assert len(engine.search("伺服电机").hits) == 2
        engine.close()


def test_an_empty_database_needs_no_rebuild(make_app, tmp_path):
    fresh = make_app()
    fresh.config["BOUNTY_INDEX_DIR"] = str(tmp_path / "elsewhere")
    with fresh.app_context():
        engine = get_engine()
        start_up(fresh, engine)
        assert PROBLEM_KEY not in fresh.extensions
        assert os.path.isdir(engine.generation())
        engine.close()
