"""Time to the first useful token and to the whole answer, with the local model's prompt-prefix cache on and off.

    .venv/bin/python docs/experiments/answer-speed/measure.py --qa ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl \\
        -c wiki-vital --questions 30 --out docs/experiments/answer-speed/prefix-cache.json

The default answer path (the collection's encoder, hybrid retrieval, the reader and its span check, the reader's
lead, SmolLM2-135M) answers each question twice, once with the cache and once without, in alternating order, so
that both see the same machine load. Abstention is off, so every question is generated. Medians in ms from the
question: the first streamed text (the lead), the LLM's first token, the whole answer; and the paired ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.assembly import build_engine  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.llm import LOCAL_MODELS  # noqa: E402
from rag.llm.prefix_cache import PrefixCache  # noqa: E402
from retrievers.datasets import load_dataset  # noqa: E402


def timed(engine, question: str) -> dict:
    started = time.perf_counter()
    stream = engine.stream(question)
    pieces = iter(stream)
    next(pieces)
    useful = 1000 * (time.perf_counter() - started)
    for _ in pieces:
        pass
    answer = stream.finish()
    t = answer.timings
    llm_first = t["total_ms"] - t.get("generation_ms", 0.0) + t.get("first_token_ms", 0.0)
    return {
        "useful": useful,
        "llm_first": llm_first,
        "whole": 1000 * (time.perf_counter() - started),
        "span_check": t.get("span_check_ms", 0.0),
        "prompt_tokens": answer.usage.get("prompt_tokens", 0),
        "answer": answer.answer,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--qa", required=True)
    ap.add_argument("-c", "--collection", default="wiki-vital")
    ap.add_argument("--questions", type=int, default=30)
    ap.add_argument("--out")
    args = ap.parse_args()
    engine = build_engine(Settings().model_copy(update={"abstain_score": None}), args.collection)
    questions = [q.question for q in load_dataset(f"nq-open:{args.qa}").questions][: args.questions + 2]
    engine.ask(questions[0])  # loads the models
    llama, _ = LOCAL_MODELS.get(engine.llm.model.split("/", 1)[1])
    formatter = LOCAL_MODELS.formatter(llama)
    caches = {"on": PrefixCache(), "off": PrefixCache(min_tokens=10**9)}  # "off" never saves a prefix
    LOCAL_MODELS._extras[llama] = (formatter, caches["on"])
    engine.ask(questions[1])  # the cache sees the fixed beginnings once
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    same = 0
    for i, question in enumerate(questions[2:]):
        pair = {}
        for mode in ("on", "off") if i % 2 else ("off", "on"):
            LOCAL_MODELS._extras[llama] = (formatter, caches[mode])
            pair[mode] = timed(engine, question)
            runs[mode].append(pair[mode])
        same += pair["on"]["answer"] == pair["off"]["answer"]
    out: dict = {
        "questions": len(runs["on"]),
        "same_answers": same,
        "cache_hits": caches["on"].hits,
        "saved_prefix_tokens": sorted(len(k) for k in caches["on"]._states),
    }
    for key in ("useful", "llm_first", "whole", "span_check", "prompt_tokens"):
        for mode in ("off", "on"):
            out[f"{key}_{mode}_p50"] = round(statistics.median(r[key] for r in runs[mode]), 1)
        ratios = [a[key] / b[key] for a, b in zip(runs["on"], runs["off"]) if b[key]]
        if key != "prompt_tokens" and ratios:
            out[f"{key}_on_over_off_p50"] = round(statistics.median(ratios), 3)
    print(json.dumps(out, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
