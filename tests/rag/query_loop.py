"""Run hybrid queries against a store until a stop file appears; print what was seen as JSON.

Used by the concurrency test as a second and third process reading while an ingest writes.
"""

import json
import random
import sys
import time
import traceback
from pathlib import Path


def main(store: str, stop_file: str, seed: int) -> None:
    from retrievers import HybridRetriever

    retriever = HybridRetriever.from_defaults("default", store_dir=store, similarity_top_k=10)
    retriever.search("warm up")
    Path(stop_file + f".ready{seed}").touch()
    words = sys.argv[4].split(",")
    rng = random.Random(seed)
    seen: dict[str, str] = {}
    queries, short, errors = 0, 0, []
    while True:
        stopping = Path(stop_file).exists()
        try:
            hits = retriever.search(" ".join(rng.sample(words, 3)))
            queries += 1
            short += len(hits) < 10
            for passage, _ in hits:
                seen[passage.id] = passage.text
        except Exception:
            errors.append(traceback.format_exc(limit=3))
        if stopping:
            break
        time.sleep(0.01)
    print(json.dumps({"queries": queries, "short": short, "errors": errors, "seen": seen}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
