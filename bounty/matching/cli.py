"""Command line: ``bounty match eval``, ``bounty match pairs-eval`` and ``bounty reindex``."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from .evaluation import DEFAULT_CACHE, SYSTEMS, evaluate


@click.group("match")
def match_cli() -> None:
    """Matching: evaluation and index maintenance."""


@match_cli.command("eval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--system", "systems", multiple=True, type=click.Choice(SYSTEMS),
              help="What to score (repeatable); default: hybrid, what the product ships.")
@click.option("--baseline", is_flag=True, help="Also score stock Whoosh BM25F + jieba.")
@click.option("--run", "run_file", type=click.Path(dir_okay=False), help="Write a TREC run file.")
@click.option("--subset", help="Only queries flagged in queries_meta.jsonl, e.g. low_overlap.")
@click.option("--no-cache", is_flag=True, help="Embed everything again (no vector cache).")
@click.option("--backend", "backends", multiple=True, type=click.Choice(["whoosh", "postgres"]),
              help="The search engine (repeatable); default: whoosh. postgres builds its "
              "index in a scratch schema of --database-url, dropped afterwards.")
@click.option("--database-url", envvar="DATABASE_URL",
              help="The PostgreSQL database of --backend postgres (default: DATABASE_URL).")
def eval_command(directory: str, systems: tuple[str, ...], baseline: bool,
                 run_file: str | None, subset: str | None, no_cache: bool,
                 backends: tuple[str, ...], database_url: str | None) -> None:
    """Rank DIR's docs for DIR's queries and print the metrics as JSON lines."""
    if "postgres" in backends and not database_url:
        raise click.UsageError("--backend postgres needs --database-url or DATABASE_URL")
    results = evaluate(directory, systems=systems or ("hybrid",), baseline=baseline,
                       run_file=run_file, subset=subset,
                       cache=None if no_cache else DEFAULT_CACHE,
                       backends=backends or ("whoosh",), database_url=database_url)
    for result in results:
        click.echo(json.dumps(result, ensure_ascii=False))


@match_cli.command("pairs-eval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--threshold", type=float, help="Score at this threshold instead of the shipped one.")
@click.option("--sweep", is_flag=True, help="Also print precision and recall around it.")
@click.option("--no-cache", is_flag=True, help="Embed everything again (no vector cache).")
def pairs_eval_command(directory: str, threshold: float | None, sweep: bool,
                       no_cache: bool) -> None:
    """Score 相似榜单 (challenge pairs), 方案雷同 (DIR has bids.jsonl) or the closest-sentence
    explanations (DIR is a relevance set with qrels.tsv) on DIR."""
    from .embedder import load_embedder
    from .evaluation import CachedEmbedder
    from .pair_eval import evaluate as evaluate_pairs

    embedder = load_embedder("e5-small")
    if not no_cache:
        embedder = CachedEmbedder(embedder, DEFAULT_CACHE)
    click.echo(json.dumps(evaluate_pairs(directory, embedder, threshold, sweep),
                          ensure_ascii=False))


def main() -> None:  # pragma: no cover - `python -m bounty.matching.cli`
    match_cli()


if __name__ == "__main__":  # pragma: no cover
    main()


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild the whole index from the database alone, then swap it in atomically
    (whatever state the index folder is in: damaged, half-built or deleted)."""
    from sqlalchemy.orm import Session
    from tqdm import tqdm

    from ..extensions import db
    from . import get_engine, get_matcher, indexing
    from .healing import rebuild_from_database

    embedder = get_matcher().embedder
    with Session(db.engine) as session:
        total = indexing.count_docs(session)
    with tqdm(total=total, unit="doc", desc="reindex") as bar:
        n, queued = rebuild_from_database(get_engine(), embedder, progress=bar.update)
    click.echo(f"reindexed {n} documents into {get_engine().generation()}")
    if embedder is not None:
        click.echo(f"vectors: {n - queued} current, {queued} queued for the embedding "
                   "worker (or run `bounty embed --missing`)")


EMBED_CHUNK = 10  # documents per commit: an interruption loses at most this much work


@click.command("embed")
@click.option("--missing", "mode", flag_value="missing", default=True,
              help="Embed documents whose vectors are absent or stale (default; resumes).")
@click.option("--all", "mode", flag_value="all", help="Recompute every vector.")
@with_appcontext
def embed_command(mode: str) -> None:
    """Compute the documents' vectors for semantic matching (resumable)."""
    import sys

    import sqlalchemy as sa
    from flask import current_app
    from sqlalchemy.orm import Session
    from tqdm import tqdm

    from ..extensions import db
    from . import get_matcher, indexing
    from .embedding import Counts, embed_keys, prune

    embedder = get_matcher().embedder
    if embedder is None:
        name = current_app.config.get("BOUNTY_EMBEDDER")
        click.echo(f"error: no embedder (BOUNTY_EMBEDDER={name!r})", err=True)
        sys.exit(1)
    total = Counts()
    with Session(db.engine) as session:
        keys = [(kind, str(i)) for kind, model in indexing.MODELS.items()
                for i in session.scalars(sa.select(model.id).order_by(model.id))]
        with tqdm(total=len(keys), unit="doc", desc=f"embed --{mode}") as bar:
            try:
                for start in range(0, len(keys), EMBED_CHUNK):
                    chunk = keys[start:start + EMBED_CHUNK]
                    c = embed_keys(session, embedder, chunk, force=mode == "all")
                    session.commit()
                    total.embedded += c.embedded
                    total.current += c.current
                    total.skipped += c.skipped
                    bar.update(len(chunk))
            except KeyboardInterrupt:
                session.rollback()
                bar.close()
                click.echo(f"interrupted after {total.embedded} vectors; "
                           "run `bounty embed --missing` to resume", err=True)
                sys.exit(130)
        pruned = prune(session, embedder.key)
        session.commit()
    click.echo(f"{embedder.key}: {total.embedded} vectors computed, {total.current} current, "
               f"{total.skipped} documents not indexed, {pruned} stale vectors removed")
