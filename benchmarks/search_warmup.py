"""Search latency of a process that just opened an index, and once its term caches are warm.

    python benchmarks/search_warmup.py --index-dir /tmp/ix100k     # an index matching_bench built

matching_bench.py's (a) search and (c) recommend queries, three times over one engine:
``cold`` right after opening (each common word's first query decodes its postings),
``fresh`` new queries of the same kinds once the background warmer is done (steady
state: the words are known, these queries are not), ``again`` the same queries repeated.
Prints p50/p95 per pass, the term caches' size and the peak RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from matching_bench import FILLER, TOPICS, timed  # noqa: E402

from bounty.matching.engine import Filters  # noqa: E402
from bounty.matching.whoosh import WhooshEngine, cache  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    engine = WhooshEngine(args.index_dir, refresh=0)
    try:
        run(engine, "cold", args.queries, seed=11)
        t0 = time.perf_counter()
        while any(t.name == "bounty-warm" for t in threading.enumerate()):
            time.sleep(0.5)
        print(f"# warming went on for {time.perf_counter() - t0:.0f} s more", flush=True)
        run(engine, "fresh", args.queries, seed=12)
        run(engine, "again", args.queries, seed=12)
    finally:
        engine.close(flush=False)
    print(f"# term caches: {cache.BUDGET.total / 1e6:.0f} MB, peak RSS: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


def run(engine: WhooshEngine, label: str, n: int, seed: int) -> None:
    rng = random.Random(seed)
    queries = iter([" ".join(rng.sample(TOPICS + FILLER, rng.randint(1, 5))) for _ in range(n)])
    profiles = iter([" ".join(rng.sample(TOPICS, rng.randint(10, 30))) for _ in range(n)])
    a = timed(lambda: engine.search(next(queries), pagesize=20), n)
    c = timed(lambda: engine.rank({"body": next(profiles)}, kind="challenge",
                                  filters=Filters(state="open"), limit=20), n)
    print(f"# {label}: a_search {a}, c_recommend {c}", flush=True)


if __name__ == "__main__":
    main()
