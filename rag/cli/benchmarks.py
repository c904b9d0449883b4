"""Commands that measure speed and robustness: bench (speed, memory, disk) and loadtest (concurrent chats,
hostile requests). The CLI is the only part of rag/ that reaches eval/."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from rag.cli.common import settings_from
from rag.cli.options import answer_options, setting


def cmd_loadtest(args: argparse.Namespace) -> int:
    from eval.load import DEFAULT_QUESTIONS, load_test
    from retrievers.errors import RagError

    if args.requests < 1 or args.concurrency < 1:
        raise RagError("--requests and --concurrency must be at least 1")
    questions: Sequence[str] = DEFAULT_QUESTIONS
    if args.qa:
        from retrievers.datasets import load_dataset

        questions = [q.question for q in load_dataset(f"nq-open:{args.qa}").questions] or DEFAULT_QUESTIONS
    settings = settings_from(args)
    token = args.api_token or settings.api_token
    if args.hostile is not None:
        return _hostile_loadtest(args, settings, questions, token)
    extra = {"max_tokens": args.load_max_tokens} if args.load_max_tokens else None
    report = load_test(
        args.url,
        endpoint=args.endpoint,
        requests=args.requests,
        concurrency=args.concurrency,
        questions=questions,
        collection=args.collection,
        token=token,
        timeout=args.timeout,
        deadline=args.deadline,
        extra=extra,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0 if report.failures == 0 else 1


def _hostile_loadtest(args: argparse.Namespace, settings: Any, questions: Sequence[str], token: str | None) -> int:
    from eval.hostile import hostile_load_test, server_pid
    from retrievers.errors import RagError

    if args.hostile < 0:
        raise RagError("--hostile takes a number of attacks (0 = none)")
    pid = args.pid if args.pid is not None else server_pid(settings.store, args.url)
    report = hostile_load_test(
        args.url,
        endpoint=args.endpoint,
        requests=args.requests,
        concurrency=args.concurrency,
        hostile=args.hostile,
        questions=questions,
        collection=args.collection,
        token=token,
        pid=pid,
        attacker=args.attacker_address,
        max_tokens=args.load_max_tokens,
        timeout=args.timeout,
        deadline=args.deadline,
        max_rss_growth_mb=args.max_rss_growth,
        max_p95_ratio=args.max_p95_ratio,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0 if report.passed else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from eval.bench import QUICK_SIZES, BenchOptions, run_bench
    from eval.bench_report import LARGE_SIZE
    from retrievers.encoders import BACKENDS, native_bf16
    from retrievers.errors import RagError

    if args.hostile_files:
        return _bench_hostile_files(args)
    settings = settings_from(args)
    if args.backends is None:
        args.backends = "torch,torch-bf16,torch-bf16:2,onnx-int8" if native_bf16() else "torch,onnx-int8:2,onnx-int8"
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise RagError(f"--sizes takes whole numbers separated by commas, not {args.sizes!r}") from None
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [
        b
        for b in backends
        if b.partition(":")[0] not in BACKENDS
        or not (b.partition(":")[2] or "1").isdigit()
        or int(b.partition(":")[2] or "1") < 1
    ]
    if unknown or not backends:
        raise RagError(
            f"unknown backend {', '.join(unknown) or '(none)'}: choose from {', '.join(BACKENDS)}, each "
            "optionally with :WORKERS (torch-bf16:2 = two encoder processes)"
        )
    if args.quick:
        sizes = list(QUICK_SIZES)
    if args.large:
        sizes.append(LARGE_SIZE)
    if not sizes or min(sizes) < 10:
        raise RagError("--sizes must each be at least 10 passages")
    if args.qa and not Path(args.qa).is_file():
        raise RagError(f"--qa {args.qa}: no such file")
    options = BenchOptions(
        sizes=sorted(set(sizes)),
        backends=backends,
        queries=args.queries or (20 if args.quick else 200),
        answers=args.answers if args.answers is not None else (1 if args.quick else 5),
        qa=args.qa,
        baseline=args.baseline,
        work_dir=args.work_dir,
    )
    report = run_bench(settings, options, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    if args.out:  # written whole or not at all
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        partial.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        partial.replace(out)
    return 0


def bench_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="measure ingest speed, query latency, memory and disk; compare with stock LlamaIndex",
        description="Ingest the built-in corpus (or samples and perturbed copies of it) into fresh "
        "stores, once per backend, each in its own process, and time it; time warm queries "
        "per mode at k=20, the answer path (first token, tokens/s), peak RSS and size on "
        "disk; time the stock LlamaIndex pipeline on the same passages and vectors. "
        "With --qa (nq-open questions) it also reports top-20 accuracy of both.",
    )
    p.add_argument(
        "--sizes",
        default="1000,10033",
        help="corpus sizes in passages, comma-separated (default 1000,10033 = the whole built-in corpus)",
    )
    p.add_argument("--large", action="store_true", help="also 100,000 passages (synthesised; encodes for a long time)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 200 passages, 20 queries, one answer")
    p.add_argument(
        "--backends",
        help="encoder backends to compare, comma-separated (default torch,torch-bf16,onnx-int8, without "
        "torch-bf16 on CPUs that lack native bfloat16; the last one is also the one the LlamaIndex "
        "pipeline and the answer path use)",
    )
    p.add_argument("--queries", type=int, help="timed queries per mode (default 200)")
    p.add_argument("--qa", metavar="FILE", help="nq-open questions (jsonl): timed queries and top-20 accuracy")
    p.add_argument("--answers", type=int, help="questions answered to time the first token (default 5; 0 = skip)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the stock LlamaIndex pipeline")
    p.add_argument("--work-dir", help="build the stores here and keep them (default: a temporary folder)")
    setting(p, "encoder")
    answer_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", metavar="FILE", help="also write that JSON object to FILE")
    p.add_argument(
        "--hostile-files",
        dest="hostile_files",
        action="store_true",
        help="instead: time reading and splitting the worst files known for each reader (backtracking "
        "titles, unclosed HTML tags, deep JSON, ...); exit status 1 when one takes longer than "
        "--limit-s",
    )
    p.add_argument(
        "--size-mb",
        dest="size_mb",
        type=float,
        default=20.0,
        help="with --hostile-files: the size of each file (default 20)",
    )
    p.add_argument(
        "--limit-s",
        dest="limit_s",
        type=float,
        default=10.0,
        help="with --hostile-files: seconds each may take (default 10)",
    )
    p.add_argument(
        "--max-passages",
        dest="max_passages",
        type=int,
        default=None,
        metavar="N",
        help="with --hostile-files: read each file as an upload is, refused past N passages (default "
        "RAG_UPLOAD_MAX_PASSAGES); 0 reads it as `rag ingest` does, unbounded",
    )


def loadtest_parser(sub: Any) -> None:
    p = sub.add_parser(
        "loadtest",
        help="a bounded load test of a running rag serve: throughput, latency, failures",
        description="Send N requests, C at a time, to a running server's /v1/retrieve, "
        "/v1/chat/completions or /healthz; report requests/s, latency p50/p95/p99 and "
        "every failure (a reply that is not 200 with a well-formed body). "
        "Exit status 1 if any failed.",
    )
    p.add_argument("--url", default="http://127.0.0.1:7860", help="the server (default http://127.0.0.1:7860)")
    p.add_argument(
        "--endpoint",
        choices=["retrieve", "chat", "health"],
        default="retrieve",
        help="what to load (default retrieve; chat also runs the LLM)",
    )
    p.add_argument("--requests", type=int, default=200, help="requests in all (default 200)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    p.add_argument("--qa", metavar="FILE", help="nq-open questions (jsonl) to send (default: a few built in)")
    setting(p, "collection", "-c", "--collection", help="collection to query", default="the server's")
    setting(p, "api_token", help="bearer token, if the server needs one")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds one request may take (default 60)")
    p.add_argument("--deadline", type=float, default=600.0, help="seconds the whole run may take (default 600)")
    p.add_argument(
        "--hostile",
        type=int,
        metavar="N",
        help="also send N attacks (slow and oversized bodies, cache-busting chats, path-like models and "
        "collections, rebound hosts, cross-site writes, wrong keys) from another loopback address, "
        "with an unloaded and a loaded /v1/retrieve probe and the server's memory: exit status 1 "
        "unless every attack is refused, no normal request fails, RSS grows < --max-rss-growth MB "
        "and the probe's p95 stays < --max-p95-ratio x unloaded. --hostile 0 is the control: the "
        "same measured run with no attacks",
    )
    p.add_argument(
        "--pid",
        type=int,
        help="with --hostile: the server's pid, for its memory (default: the store's "
        "running rag serve when it listens on --url's port)",
    )
    p.add_argument(
        "--attacker-address",
        dest="attacker_address",
        help="with --hostile: local address the attacks come from (default 127.0.0.2 for a loopback "
        "server; '' = this machine's own)",
    )
    p.add_argument(
        "--max-tokens",
        dest="load_max_tokens",
        type=int,
        metavar="N",
        help="max_tokens sent with each chat (default: the server's)",
    )
    p.add_argument("--max-rss-growth", dest="max_rss_growth", type=float, default=200.0, metavar="MB")
    p.add_argument("--max-p95-ratio", dest="max_p95_ratio", type=float, default=2.0)
    setting(p, "store", help="the server's store, to find its pid")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _bench_hostile_files(args: argparse.Namespace) -> int:
    from eval.hostile_files import time_hostile_files, timings_json, timings_table
    from retrievers.errors import RagError

    if not 0 < args.size_mb <= 1000 or args.limit_s <= 0 or (args.max_passages or 0) < 0:
        raise RagError(
            "--size-mb takes 0 to 1000, --limit-s a positive number of seconds and --max-passages a "
            "number of passages (0 = no bound)"
        )
    bound = settings_from(args).upload_max_passages if args.max_passages is None else args.max_passages
    timings = time_hostile_files(
        args.size_mb, args.limit_s, work=Path(args.work_dir) if args.work_dir else None, max_passages=bound or None
    )
    print(timings_json(timings) if args.json else timings_table(timings, args.limit_s))
    return 0 if all(t.ok for t in timings) else 1
