"""The test database that scripts/test.sh chose answers and keeps Chinese text intact."""

import os
import sqlite3

TEXT = "揭榜挂帅：成套装备关键技术 ①②③ 𠀀"


def test_test_database_answers_and_keeps_chinese_text(tmp_path):
    url = os.environ.get("BOUNTY_TEST_DATABASE_URL")
    if not url:
        # The SQLite run: the suite's temporary SQLite files must work.
        with sqlite3.connect(tmp_path / "infra.sqlite") as conn:
            conn.execute("create table t (s text)")
            conn.execute("insert into t values (?)", (TEXT,))
            assert conn.execute("select s from t").fetchone()[0] == TEXT
        conn.close()
        return

    import psycopg

    assert url.startswith("postgresql+psycopg://"), url
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        assert conn.execute("select version()").fetchone()[0].startswith("PostgreSQL")
        assert conn.execute("show server_encoding").fetchone()[0] == "UTF8"
        assert conn.execute("select %s::text", (TEXT,)).fetchone()[0] == TEXT
