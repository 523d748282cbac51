"""Scoring the 相似榜单 and 方案雷同 thresholds on labelled pairs (``bounty match pairs-eval``).

A set is a directory with ``challenges.jsonl`` and ``pairs.tsv`` (``a b label``, with a
header), and for bids also ``bids.jsonl``:

* ``tests/data/similar-challenges``: labels ``duplicate`` (the positive class),
  ``related``, ``different``; each pair is scored in both directions (either challenge
  may be the one in 审题), and every ordered pair of the set's challenges that is not a
  labelled duplicate counts as a false alarm when it reaches the threshold;
* ``tests/data/bid-copies``: labels ``copy`` and ``paraphrase`` (positive),
  ``independent``.

A relevance set (``qrels.tsv``, see evaluation.py) scores the explanations instead: the
share of judged bids of each grade that show their closest sentences.

Rows become unsaved model objects and go through the production code: the document
texts of indexing.py, the roles and sentences of embedding.py and the scores of
similarity.py, so the figures are the product's.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from . import indexing, similarity
from .vectors import Sentences, body_text, embed_text, sentences


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _pairs(directory: Path) -> list[tuple[str, str, str]]:
    with (directory / "pairs.tsv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    return [(a, b, label) for a, b, label in rows]


def _challenge(row: dict[str, Any]):  # noqa: ANN202
    from ..challenges.models import Challenge, ChallengeIndicator, ChallengeState

    challenge = Challenge(title=row["title"], keywords=row.get("keywords", ""),
                          bottleneck=row.get("bottleneck", ""),
                          background=row.get("background", ""),
                          expected_outcome=row.get("expected_outcome", ""),
                          state=ChallengeState.open)
    challenge.indicators = [ChallengeIndicator(position=i, name=n, target=t, unit=u)
                            for i, (n, t, u) in enumerate(row.get("indicators", []))]
    return challenge


def _bid(row: dict[str, Any]):  # noqa: ANN202
    from ..challenges.models import Bid, BidState, Milestone

    bid = Bid(title=row["title"], approach=row["approach"],
              prior_results=row.get("prior_results", ""), lab=row.get("lab", ""),
              team_members=row.get("team_members", ""), state=BidState.submitted)
    bid.milestones = [Milestone(position=i, name=n, month=m, deliverable=d)
                      for i, (n, m, d) in enumerate(row.get("milestones", []))]
    return bid


def _precision_recall(scores: list[tuple[float, bool]], threshold: float) -> dict[str, Any]:
    tp = sum(1 for s, pos in scores if pos and s >= threshold)
    fp = sum(1 for s, pos in scores if not pos and s >= threshold)
    positives = sum(1 for _, pos in scores if pos)
    return {"precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
            "recall": round(tp / positives, 3) if positives else 0.0,
            "true_positives": tp, "false_positives": fp}


def _sweep(scores: list[tuple[float, bool]], lo: float, hi: float,
           step: float) -> list[dict[str, Any]]:
    out = []
    for t in np.arange(lo, hi + step / 2, step):
        out.append({"threshold": round(float(t), 4), **_precision_recall(scores, float(t))})
    return out


def similar_challenges(directory: str | Path, embedder: Any,
                       threshold: float = similarity.SIMILAR_MIN,
                       sweep: bool = False) -> dict[str, Any]:
    """Precision and recall of 相似榜单 at ``threshold`` on a labelled challenge set."""
    d = Path(directory)
    rows = _jsonl(d / "challenges.jsonl")
    ids = [r["id"] for r in rows]
    texts = [embed_text(indexing.challenge_doc(_challenge(r))) for r in rows]
    sims = embedder.embed_queries(texts) @ embedder.embed_passages(texts).T
    at = {i: k for k, i in enumerate(ids)}
    labels: dict[tuple[str, str], str] = {}
    for a, b, label in _pairs(d):
        labels[(a, b)] = labels[(b, a)] = label
    labelled = [(float(sims[at[a], at[b]]), label == "duplicate")
                for (a, b), label in sorted(labels.items())]
    duplicates = {k for k, label in labels.items() if label == "duplicate"}
    everything = [(float(sims[at[a], at[b]]), (a, b) in duplicates)
                  for a in ids for b in ids if a != b]
    by_label: dict[str, list[float]] = {}
    for (a, b), label in labels.items():
        by_label.setdefault(label, []).append(float(sims[at[a], at[b]]))
    result: dict[str, Any] = {
        "set": d.name, "threshold": threshold, "challenges": len(ids),
        "labelled_pairs": {k: len(v) // 2 for k, v in sorted(by_label.items())},
        "labelled": _precision_recall(labelled, threshold),
        "all_ordered_pairs": {"pairs": len(everything),
                              **_precision_recall(everything, threshold)},
        "related_at_threshold": sum(1 for s in by_label.get("related", []) if s >= threshold),
        "similarity_range": {k: [round(min(v), 3), round(max(v), 3)]
                             for k, v in sorted(by_label.items())},
    }
    if sweep:
        result["sweep"] = _sweep(labelled, threshold - 0.02, threshold + 0.01, 0.0025)
    return result


def _bid_sentences(bid, embedder: Any) -> Sentences | None:  # noqa: ANN001
    """The sentences the embedding worker stores for a bid, kept as the services keep them."""
    texts = sentences(body_text(indexing.bid_doc(bid)))
    stored = Sentences(texts, embedder.embed_passages(texts)) if texts else None
    return similarity.content_sentences(stored, similarity.bid_content(bid))


def bid_copies(directory: str | Path, embedder: Any,
               threshold: float = similarity.COPY_SHARE_MIN,
               sweep: bool = False) -> dict[str, Any]:
    """Recall per kind of copy and false alarms among independent bids at ``threshold``."""
    d = Path(directory)
    challenges = {r["id"]: _challenge(r) for r in _jsonl(d / "challenges.jsonl")}
    rows = {r["id"]: r for r in _jsonl(d / "bids.jsonl")}
    bids = {i: _bid(r) for i, r in rows.items()}
    sents = {i: _bid_sentences(b, embedder) for i, b in bids.items()}
    by_label: dict[str, list[float]] = {}
    flagged: dict[str, int] = {}
    verbatim: dict[str, list[float]] = {}
    scores = []
    for a, b, label in _pairs(d):
        challenge = challenges[rows[a]["challenge"]]
        grams = similarity.ngrams(similarity.challenge_text(challenge))
        score = similarity.copy_score(sents[a], sents[b], grams)
        by_label.setdefault(label, []).append(score.share)
        hit = score.share >= threshold and score.chars >= similarity.COPY_MIN_CHARS
        flagged[label] = flagged.get(label, 0) + hit
        verbatim.setdefault(label, []).append(similarity.verbatim_share(
            similarity.bid_content(bids[a]), similarity.bid_content(bids[b]), grams))
        scores.append((score.share if score.chars >= similarity.COPY_MIN_CHARS else 0.0,
                       label != "independent"))
    result: dict[str, Any] = {
        "set": d.name, "threshold": threshold, "bids": len(bids),
        "pairs": {k: len(v) for k, v in sorted(by_label.items())},
        "flagged": dict(sorted(flagged.items())),
        **_precision_recall(scores, threshold),
        "share_range": {k: [round(min(v), 3), round(max(v), 3)]
                        for k, v in sorted(by_label.items())},
        "verbatim_range": {k: [round(min(v), 3), round(max(v), 3)]
                           for k, v in sorted(verbatim.items())},
    }
    result["closest_shown"] = _closest_shown(challenges, rows, sents, embedder)
    if sweep:
        result["sweep"] = _sweep(scores, threshold - 0.15, threshold + 0.15, 0.025)
    return result


def _closest_shown(challenges: dict[str, Any], rows: dict[str, dict[str, Any]],
                   sents: dict[str, Sentences | None], embedder: Any) -> dict[str, float]:
    """Share of bids that show closest sentences for their own challenge and for the
    set's other challenges (long texts, as on the evaluation page)."""
    queries = {k: embedder.embed_queries([embed_text(indexing.challenge_doc(c))])[0]
               for k, c in challenges.items()}
    own, other = [], []
    for bid_id, row in rows.items():
        if sents[bid_id] is None:
            continue
        for key, vector in queries.items():
            shown = bool(similarity.closest(sents[bid_id], vector))
            (own if key == row["challenge"] else other).append(shown)
    return {"floor": similarity.EXPLAIN_FLOOR,
            "own_challenge": round(sum(own) / len(own), 3) if own else 0.0,
            "other_challenges": round(sum(other) / len(other), 3) if other else 0.0}


def explanations(directory: str | Path, embedder: Any,
                 floor: float = similarity.EXPLAIN_FLOOR) -> dict[str, Any]:
    """Share of the judged bids of each grade whose closest sentence reaches ``floor``."""
    from .evaluation import load_set

    es = load_set(directory)
    docs = {d["id"]: d for d in es.docs}
    shown: dict[int, list[bool]] = {}
    for q in es.queries:
        vector = embedder.embed_queries([embed_text({"title": q.get("title", ""),
                                                     "body": q.get("text", "")})])[0]
        for doc_id, grade in sorted(es.qrels.get(q["id"], {}).items()):
            texts = sentences(docs[doc_id].get("text", ""))
            best = float((embedder.embed_passages(texts) @ vector).max()) if texts else 0.0
            shown.setdefault(grade, []).append(best >= floor)
    return {"set": Path(directory).name, "floor": floor,
            "shown_by_grade": {g: round(sum(v) / len(v), 3) for g, v in sorted(shown.items())},
            "judged_by_grade": {g: len(v) for g, v in sorted(shown.items())}}


def evaluate(directory: str | Path, embedder: Any, threshold: float | None = None,
             sweep: bool = False) -> dict[str, Any]:
    """Score the set in ``directory``: explanations if it has ``qrels.tsv``, bid copies if
    it has ``bids.jsonl``, else similar challenges."""
    if (Path(directory) / "qrels.tsv").exists():
        return explanations(directory, embedder, threshold or similarity.EXPLAIN_FLOOR)
    if (Path(directory) / "bids.jsonl").exists():
        return bid_copies(directory, embedder, threshold or similarity.COPY_SHARE_MIN, sweep)
    return similar_challenges(directory, embedder, threshold or similarity.SIMILAR_MIN, sweep)
