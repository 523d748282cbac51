"""SEARCH_BACKEND=postgres in the app: index rows commit and roll back with the data."""

from __future__ import annotations

import random
import string
import threading

import pytest
import sqlalchemy as sa

from bounty import create_app
from bounty.challenges.models import BidState, ChallengeState
from bounty.extensions import db
from bounty.matching import Filters, get_engine
from bounty.matching.models import IndexJob
from bounty.matching.pgsearch import PgEngine, fold
from bounty.matching.pgsearch.pending import term_counts
from bounty.matching.pgsearch.tables import docs, postings, stats, terms
from tests.factories import create_bid, create_challenge


def _rows(table: sa.Table) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(table))


def test_postgres_backend_is_refused_on_sqlite(tmp_path):
    with pytest.raises(SystemExit, match="needs DATABASE_URL to name a PostgreSQL"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                    "BOUNTY_INSTANCE": str(tmp_path), "SECRET_KEY": "x", "TESTING": True,
                    "SEARCH_BACKEND": "postgres"})


def test_index_rows_commit_with_the_change(pg_app):
    engine = get_engine()
    assert isinstance(engine, PgEngine)
    open_ch = create_challenge(state=ChallengeState.open, title="鞋底注塑模具温控")
    create_challenge(state=ChallengeState.draft, title="鞋底材料草稿")
    assert [h.id for h in engine.search("鞋底").hits] == [str(open_ch.id)]
    bid = create_bid(open_ch)
    ranked = engine.rank({"title": open_ch.title, "body": open_ch.bottleneck}, kind="bid",
                         filters=Filters(challenge_id=str(open_ch.id)))
    assert [h.id for h in ranked] == [str(bid.id)]
    bid.state = BidState.withdrawn
    open_ch.state = ChallengeState.failed
    db.session.commit()
    assert engine.rank({"title": open_ch.title}, kind="bid",
                       filters=Filters(challenge_id=str(open_ch.id))) == []
    assert engine.search("鞋底").hits[0].fields["state"] == "failed"
    # no job, nothing to flush: the rows were written in the transaction itself
    assert _rows(IndexJob.__table__) == 0


def test_rolled_back_change_leaves_no_index_row(pg_app):
    create_challenge(state=ChallengeState.open, title="伺服电机")
    before = {t.name: _rows(t) for t in (docs, postings, terms, stats)}
    searched = db.session.execute(sa.select(stats.c.docs, stats.c.len_title)).all()
    ch = create_challenge(state=ChallengeState.draft, title="鞋底耐磨材料")
    ch.state = ChallengeState.open
    ch.title = "眼镜架表面处理"
    db.session.flush()
    db.session.rollback()
    assert {t.name: _rows(t) for t in (docs, postings, terms, stats)} == before
    assert db.session.execute(sa.select(stats.c.docs, stats.c.len_title)).all() == searched
    assert get_engine().search("眼镜架").total == 0
    assert get_engine().search("伺服电机").total == 1


def test_a_failed_commit_leaves_no_index_row(pg_app, monkeypatch):
    """The index rows are written before the commit; a commit that fails takes them back."""
    ch = create_challenge(state=ChallengeState.draft, title="伺服电机")
    ch.state = ChallengeState.open
    real_write = PgEngine.write

    def write_then_fail(self, connection, ops):
        real_write(self, connection, ops)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(PgEngine, "write", write_then_fail)
    with pytest.raises(RuntimeError):
        db.session.commit()
    db.session.rollback()
    monkeypatch.undo()
    assert _rows(docs) == 0 and _rows(postings) == 0
    assert get_engine().search("伺服电机").total == 0


def test_another_app_sees_a_write_at_once(pg_app, make_app):
    """Two web nodes on one database: no flush, no refresh interval."""
    other = make_app(SEARCH_BACKEND="postgres")
    ch = create_challenge(state=ChallengeState.open, title="伺服电机操动机构")
    with other.app_context():
        assert [h.id for h in get_engine().search("伺服电机").hits] == [str(ch.id)]


def test_reindex_repairs_rows_and_statistics(pg_app):
    ch = create_challenge(state=ChallengeState.open, title="伺服电机操动机构")
    create_challenge(state=ChallengeState.open, title="鞋底耐磨材料")
    engine = get_engine()
    expected = engine.search("伺服电机")
    with db.engine.begin() as connection:  # damage: a lost row, drifted statistics
        connection.execute(docs.delete().where(docs.c.doc_id == str(ch.id)))
        connection.execute(stats.update().values(docs=99, len_body=0))
        connection.execute(terms.update().values(df_title=7))
    assert engine.search("伺服电机").total == 0
    result = pg_app.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    repaired = engine.search("伺服电机")
    assert [(h.id, h.score) for h in repaired.hits] == [(h.id, h.score) for h in expected.hits]
    assert engine.count("challenge") == 2


def test_a_word_longer_than_a_btree_key_is_indexed_without_it(pg_app):
    # the analyzer keeps a run of letters whole: 6,000 of them (random, so that PostgreSQL
    # cannot compress them) would not fit an index key
    word = "".join(random.Random(9).choices(string.ascii_lowercase, k=6_000))
    ch = create_challenge(state=ChallengeState.open, title="伺服电机温控",
                          bottleneck=f"控温精度不足 {word} 需要改进")
    bid = create_bid(ch, title="伺服电机温控方案", approach=f"{word} 自整定 PID")
    engine = get_engine()
    assert [h.id for h in engine.search("伺服电机").hits] == [str(ch.id)]
    assert engine.search(word).total == 0  # kept out of the postings, not an error
    ranked = engine.rank({"title": ch.title, "body": ch.bottleneck}, kind="bid",
                         filters=Filters(challenge_id=str(ch.id)))
    assert [h.id for h in ranked] == [str(bid.id)]
    assert engine.fold("challenge") and engine.fold("bid")  # into the postings
    assert db.session.scalar(sa.select(sa.func.max(sa.func.length(postings.c.term)))) <= 200
    assert [h.id for h in engine.search("伺服电机").hits] == [str(ch.id)]
    assert engine.search(word).total == 0


def _doc(i: int) -> dict:
    return {"kind": "challenge", "id": str(i), "title": f"伺服电机 {i}", "body": "伺服电机",
            "state": "open"}


@pytest.mark.parametrize("between", ["search_terms", "search_postings"])
def test_a_query_reads_one_state_of_the_index(pg_engine, between):
    """A write committed while a query runs (between its statement reading the statistics
    and the one named) is not half seen: the statistics of 20 documents with a term in
    25 once gave a negative IDF and an empty result."""
    pg_engine.index([_doc(i) for i in range(1, 21)])
    fired: list[str] = []

    def write_meanwhile(conn, cursor, statement, *args):
        if between in statement and not fired:
            fired.append(statement)
            pg_engine.index([_doc(i) for i in range(21, 26)])

    sa.event.listen(pg_engine.db, "before_cursor_execute", write_meanwhile)
    try:
        assert pg_engine.search("伺服电机").total == 20
        assert fired
    finally:
        sa.event.remove(pg_engine.db, "before_cursor_execute", write_meanwhile)
    assert pg_engine.search("伺服电机").total == 25


def test_another_engines_writes_reach_the_resident_columns(pg_engine):
    """An engine (a process) keeps each kind's columns in memory between queries; what
    another one writes meanwhile (a new document, a changed facet or length, a removal,
    a rebuild) is in its next query's results, totals and facets."""
    other = PgEngine(pg_engine.db)
    docs = [{**_doc(i), "industry": "a", "category": "x"} for i in range(1, 81)]
    pg_engine.index(docs)
    assert pg_engine.search("伺服电机").total == 80  # builds the columns
    other.index([{**_doc(81), "industry": "b"}, {**docs[0], "industry": "b"}])
    found = pg_engine.search("伺服电机")
    assert found.total == 81
    assert found.facets["industry"] == {"a": 79, "b": 2}
    assert pg_engine.search("伺服电机", filters=Filters(industry="b")).total == 2
    other.remove("challenge", ["2", "3"])
    found = pg_engine.search("伺服电机")
    assert found.total == 79 and found.facets["industry"] == {"a": 77, "b": 2}
    assert pg_engine.search("", facets=False).total == 79  # browsing counts the columns
    # a longer title lowers the document's BM25F: its length reached the columns
    before = {h.id: h.score for h in pg_engine.search("伺服电机", pagesize=100).hits}
    other.index([{**docs[4], "title": "伺服电机 " + " ".join(f"词{i}" for i in range(40))}])
    after = {h.id: h.score for h in pg_engine.search("伺服电机", pagesize=100).hits}
    assert before["5"] == before["6"] and after["5"] < after["6"]
    other.rebuild(d for d in docs[:10])
    assert pg_engine.search("伺服电机").total == 10
    assert pg_engine.search("", facets=False).total == 10


def _results(engine: PgEngine, query: str) -> list:
    found = engine.search(query, pagesize=100)
    return [found.total, found.facets, [(h.id, h.score, h.matched) for h in found.hits]]


def test_cached_postings_follow_other_engines_writes(pg_engine, monkeypatch):
    """An engine that keeps decoded postings between queries (and warms the most
    frequent ones) answers exactly as a fresh engine does after another one's writes:
    new documents, changed texts (a term gone, a term new), removals and a rebuild."""
    from bounty.matching.pgsearch import engine as engine_module

    monkeypatch.setattr(engine_module, "WARM_SEGMENT_DOCS", 10)
    other = PgEngine(pg_engine.db)
    docs = [{**_doc(i), "body": f"伺服电机 减速器 {'谐波' if i % 3 else '齿轮'}",
             "industry": "ab"[i % 2]} for i in range(1, 61)]
    pg_engine.index(docs)
    queries = ["伺服电机", "谐波 减速器", "齿轮", "编码器"]
    for q in queries:
        _results(pg_engine, q)  # cached, and the warmer started
    _join_warmers()
    assert len(pg_engine.memory.postings._cache) > 0
    other.index([{**docs[0], "body": "编码器 谐波"}, {**_doc(61), "body": "齿轮 编码器"}])
    other.remove("challenge", ["5"])
    for q in queries:
        assert _results(pg_engine, q) == _results(PgEngine(pg_engine.db), q), q
    other.index([{**d, "body": "编码器"} for d in docs[10:40]])
    for q in queries:
        assert _results(pg_engine, q) == _results(PgEngine(pg_engine.db), q), q
    other.rebuild(iter(docs[:20]))
    for q in queries:
        assert _results(pg_engine, q) == _results(PgEngine(pg_engine.db), q), q
    pg_engine.close()  # stops its warmer
    _join_warmers()


def _join_warmers() -> None:
    for t in [t for t in threading.enumerate() if t.name.startswith("pgsearch-warm")]:
        t.join(30)


_WORDS = ["伺服电机", "温控", "注塑模具", "激光焊接", "眼镜架", "鞋底", "耐磨", "PLC", "精度",
          "传感器"]


def _random_doc(rng: random.Random, kind: str, i: int) -> dict:
    return {"kind": kind, "id": str(i), "title": " ".join(rng.sample(_WORDS, 2)),
            "body": " ".join(rng.choices(_WORDS, k=rng.randint(1, 8))),
            "state": rng.choice(["open", "closed"]), "industry": rng.choice("ab"),
            "challenge_id": "1" if kind == "bid" else None}


def _seen(engine: PgEngine) -> list:
    """What the queries of every surface return, scores included."""
    out = []
    for q in ("伺服电机 温控", "注塑模具", "激光焊接 眼镜架", "耐磨 鞋底 PLC"):
        found = engine.search(q, pagesize=100)
        out.append((found.total, found.facets,
                    [(h.id, round(h.score, 9), h.matched) for h in found.hits]))
        out.append(engine.search(q, filters=Filters(state="open"), facets=False).total)
        ranked = engine.rank({"title": q, "body": q}, kind="bid",
                             filters=Filters(challenge_id="1"))
        out.append([(h.id, round(h.score, 9)) for h in ranked])
    return out


def _folded_rows(database: sa.Engine) -> tuple[set, set]:
    """The postings and document frequencies in the tables, and as counted again from
    the folded documents' own terms."""
    with database.connect() as conn:
        stored = (set(conn.execute(sa.text(
            "SELECT kind, term, docnum, tf_title, tf_keywords, tf_body, tf_grams "
            "FROM search_postings")).all()),
            set(conn.execute(sa.text(
                "SELECT kind, term, df_title, df_keywords, df_body, df_grams "
                "FROM search_terms WHERE greatest(df_title, df_keywords, df_body, "
                "df_grams) > 0")).all()))
        rows = conn.execute(sa.text(
            "SELECT kind, docnum, terms FROM search_docs WHERE live AND NOT pending")).all()
    postings_, dfs = set(), {}
    for kind, docnum, doc_terms in rows:
        for term, tfs in term_counts(doc_terms).items():
            postings_.add((kind, term, docnum, *tfs))
            d = dfs.setdefault((kind, term), [0, 0, 0, 0])
            for i, n in enumerate(tfs):
                d[i] += n > 0
    return stored, (postings_, {(k, t, *d) for (k, t), d in dfs.items()})


@pytest.mark.parametrize("busy", [False, True])
def test_folding_changes_nothing_a_query_sees(pg_engine, monkeypatch, busy):
    """Writes leave their documents pending (their terms read from their rows) until a
    fold writes their postings and frequencies. New documents, changed texts, changed
    columns alone, removals and folds of a few or all pending documents, in any order and
    by another engine: every query answers as a fresh engine does, and a fold changes no
    answer. Folded, the tables hold exactly the documents' postings and frequencies.
    ``busy``: folds also run in the writing engine's thread and in writes that find too
    many documents pending."""
    if busy:
        monkeypatch.setattr(fold, "FOLD_AT", 4)
        monkeypatch.setattr(fold, "FOLD_BATCH", 2)
        monkeypatch.setattr(fold, "PENDING_MAX", 6)
    rng = random.Random(5 + busy)
    other = PgEngine(pg_engine.db)  # another process: it writes and folds
    known: dict[tuple[str, int], dict] = {}
    for step in range(120):
        roll = rng.random()
        if roll < 0.45 or not known:
            kind = rng.choice(["challenge", "bid"])
            doc = known[(kind, i)] = _random_doc(rng, kind, i := rng.randint(1, 30))
            other.index([doc])
        elif roll < 0.65:  # a changed state alone: its terms (and postings) stand
            key = rng.choice(sorted(known))
            known[key] = {**known[key], "state": rng.choice(["open", "closed"])}
            other.index([known[key]])
        elif roll < 0.8:
            kind, i = key = rng.choice(sorted(known))
            del known[key]
            other.remove(kind, [str(i)])
        else:
            before = _seen(pg_engine)
            other.fold(rng.choice(["challenge", "bid"]), limit=rng.choice([1, 3, None]))
            assert _seen(pg_engine) == before, step
        if step % 6 == 5:
            assert _seen(pg_engine) == _seen(PgEngine(pg_engine.db)), step
    before = _seen(pg_engine)
    other.close()  # waits for its folding thread
    other.fold("challenge")
    other.fold("bid")
    assert _seen(pg_engine) == before == _seen(PgEngine(pg_engine.db))
    stored, counted = _folded_rows(pg_engine.db)
    assert stored == counted
    with pg_engine.db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM search_retired")).scalar() == 0
        assert conn.execute(sa.text("SELECT sum(pending) FROM search_stats")).scalar() == 0


def test_a_snapshot_older_than_the_process_copy_sees_its_own_state(pg_engine):
    """Threads of one process share its copy of the pending documents; a query whose
    snapshot began before another thread caught the copy up (and before a fold) reads
    the pending documents of its own snapshot, not the newer copy's."""
    from bounty.matching.pgsearch import read

    pg_engine.index([_doc(i) for i in range(1, 6)])
    pg_engine.fold("challenge")
    pg_engine.index([{**_doc(2), "body": "谐波减速器"}, _doc(6)])  # pending
    expected = _results(PgEngine(pg_engine.db), "伺服电机")
    assert pg_engine.search("伺服电机").total == 6  # the process's copy, as of now
    with pg_engine._snapshot() as old:
        old.execute(sa.text("SELECT 1"))  # the snapshot is taken
        pg_engine.index([{**_doc(3), "body": "谐波减速器"}, _doc(7)])
        pg_engine.fold("challenge")
        assert pg_engine.search("伺服电机").total == 7  # the copy moved on
        seen = read.search(old, pg_engine.memory, pg_engine.analyzer, "伺服电机",
                           kind="challenge", filters=None, sort="relevance", page=1,
                           pagesize=100, facets=True, dense=None)
    assert [seen.total, seen.facets, [(h.id, h.score, h.matched) for h in seen.hits]] == expected


def test_reindex_repairs_postings_of_unchanged_documents(pg_engine):
    """``bounty reindex`` keeps the postings of a document whose terms are unchanged;
    rows lost, left over or altered by hand are found (their fingerprint differs from
    the document's terms') and folded again, so every surface answers as before."""
    rng = random.Random(11)
    docs = [_random_doc(rng, kind, i) for kind in ("challenge", "bid") for i in range(1, 13)]
    pg_engine.index(docs)
    pg_engine.fold("challenge")
    pg_engine.fold("bid")
    intact = _seen(PgEngine(pg_engine.db))
    with pg_engine.db.begin() as conn:
        num = dict(conn.execute(sa.text(
            "SELECT doc_id, docnum FROM search_docs WHERE kind = 'challenge'")).all())
        conn.execute(sa.text("DELETE FROM search_postings WHERE docnum = :d AND term = "
                             "(SELECT min(term) FROM search_postings WHERE docnum = :d)"),
                     {"d": num["1"]})
        conn.execute(sa.text("INSERT INTO search_postings VALUES ('challenge', '伪造', :d, "
                             "1, 0, 0, 0)"), {"d": num["2"]})
        conn.execute(sa.text("UPDATE search_postings SET tf_body = tf_body + 3 "
                             "WHERE docnum = :d"), {"d": num["3"]})
        conn.execute(sa.text("DELETE FROM search_postings WHERE docnum = :d"),
                     {"d": num["4"]})
    assert _folded_rows(pg_engine.db)[0] != _folded_rows(pg_engine.db)[1]
    pg_engine.rebuild(iter(docs))
    stored, counted = _folded_rows(pg_engine.db)
    assert stored == counted
    assert _seen(pg_engine) == intact == _seen(PgEngine(pg_engine.db))
