"""When small segments are merged.

Small writes commit without merging (a merge rewrites postings and costs far
more than the write). Segments are merged by size tier (Lucene's log merge
policy): once MERGE_FACTOR segments of the same tier (doc count within a power
of MERGE_FACTOR) exist, a background thread merges them into one of the next
tier, so each document is rewritten O(log n) times and never with the big
segments. Merges stop at MAX_MERGE_DOCS: merging into the big base segment
would hold the write lock for seconds; `bounty reindex` compacts. A write that
finds MERGE_NOW segments (writes faster than merges) merges itself.
"""

from __future__ import annotations

import math
from typing import Any

MERGE_FACTOR = 10
MAX_MERGE_DOCS = 10_000
MERGE_NOW = 64


def tier_to_merge(segments: list[Any]) -> list[Any]:
    """The segments of the smallest size tier that has MERGE_FACTOR of them."""
    tiers: dict[int, list[Any]] = {}
    for segment in segments:
        n = max(segment.doc_count_all(), 1)
        tier = int(math.log(n, MERGE_FACTOR) + 1e-9)
        tiers.setdefault(tier, []).append(segment)
    for _tier, group in sorted(tiers.items()):
        if len(group) >= MERGE_FACTOR:
            group = group[:MERGE_FACTOR]
            if sum(s.doc_count_all() for s in group) <= MAX_MERGE_DOCS:
                return group
    return []


def merge_tiers(writer: Any, segments: list[Any]) -> list[Any]:
    """A Whoosh merge policy: merge tiers (smallest first) while one is full."""
    from whoosh.reading import SegmentReader

    remaining = list(segments)
    while group := tier_to_merge(remaining):
        for segment in group:
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        ids = {id(s) for s in group}
        remaining = [s for s in remaining if id(s) not in ids]
        break  # one merge per commit: the merged segment is the writer's own
    return remaining
