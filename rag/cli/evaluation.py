"""Commands that measure quality: eval (retrieval, answers) and tune. The CLI is the only part of rag/ that
reaches eval/."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rag.cli.common import settings_from
from rag.cli.options import answer_options, common_options, dataset_options, retrieval_options


def cmd_eval(args: argparse.Namespace) -> int:
    from retrievers.datasets import load_dataset

    if bool(args.dataset) == bool(args.qa):
        print("error: give the questions with --dataset FORMAT:PATH (or --qa FILE for NQ-open jsonl)", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print("error: --limit takes a number of questions, 1 or more", file=sys.stderr)
        return 2
    settings = settings_from(args)
    dataset = load_dataset(args.dataset or f"nq-open:{args.qa}", split=args.split)
    progress = args.progress and not args.json
    if args.eval_command == "answers":
        return _eval_answers(args, settings, dataset, progress)
    try:
        ks = sorted({int(k) for k in args.ks.split(",")})
        if not ks or ks[0] < 1:
            raise ValueError
    except ValueError:
        print(f"error: -k takes comma-separated whole numbers of 1 or more, not {args.ks!r}", file=sys.stderr)
        return 2
    from eval.report import write_retrieval_report
    from eval.retrieval import evaluate_retrieval

    report = evaluate_retrieval(
        settings,
        dataset,
        settings.collection,
        encoders=args.encoders or [None],
        modes=args.modes.split(","),
        ks=ks,
        max_answer_passages=args.max_answer_passages or None,
        limit=args.limit,
        distractors=args.distractors,
        progress=progress,
    )
    if args.report:
        write_retrieval_report(report, args.report, command=_command_line(args))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    if args.report and not args.json:
        print(f"report: {Path(args.report) / 'report.md'}", file=sys.stderr)
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from eval.tuning import tune_fusion

    try:
        ks = sorted({int(k) for k in args.ks.split(",")})
    except ValueError:
        print(f"error: -k takes comma-separated whole numbers of 1 or more, not {args.ks!r}", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print("error: --limit takes a number of questions, 1 or more", file=sys.stderr)
        return 2
    settings = settings_from(args)
    report = tune_fusion(
        settings,
        args.qa,
        settings.collection,
        ks=ks,
        max_answer_passages=args.max_answer_passages or None,
        limit=args.limit,
        save=not args.dry_run,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 0


def _command_line(args: argparse.Namespace) -> str:
    import shlex

    return "rag " + shlex.join(args.argv)


def _eval_answers(args: argparse.Namespace, settings: Any, dataset: Any, progress: bool) -> int:
    from eval.answers import Judge, evaluate_answers
    from eval.corpus import dataset_collection
    from eval.report import write_answer_report
    from rag.assembly import build_engine, build_llm

    collection = settings.collection
    if collection is None and dataset.documents:
        collection = dataset_collection(settings, dataset, args.distractors, progress=progress)
    elif args.distractors:
        print("error: --distractors goes with a dataset's own documents: leave out --collection", file=sys.stderr)
        return 2
    engine = build_engine(settings, collection)
    if args.max_answer_passages:
        from dataclasses import replace

        from eval.retrieval import filter_questions

        passages = (p.indexed_text for p in engine.retriever.collection.passages())
        dataset = replace(dataset, questions=filter_questions(dataset.questions, passages, args.max_answer_passages))
    judge = None
    if args.judge:
        from prompts import load_prompt

        judge = Judge(
            build_llm(settings.model_copy(update={"model": args.judge})),
            load_prompt("judge", directory=settings.prompts_dir),
        )
    results = None
    if args.report:
        Path(args.report).expanduser().mkdir(parents=True, exist_ok=True)
        results = Path(args.report).expanduser() / "results.jsonl"
    report = evaluate_answers(
        dataset,
        engine,
        limit=args.limit,
        results_path=results,
        judge=judge,
        collection=engine.retriever.collection.name,
        progress=progress,
    )
    if args.report:
        write_answer_report(report, args.report, command=_command_line(args))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 0


def eval_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate retrieval (top-k accuracy, recall, MRR, nDCG) or answers (EM, F1, ...)")
    eval_sub = p.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    p = eval_sub.add_parser(
        "retrieval",
        help="BM25, dense and hybrid retrieval side by side, per encoder",
        description="DPR's Table-2 metric (the share of questions with an answer-bearing passage "
        "in the top k) and, where the dataset has gold documents, recall@k, MRR@10 and "
        "nDCG@10. Each --encoder other than the collection's is evaluated on a "
        "re-encoded copy (see `rag reindex`).",
    )
    dataset_options(p)
    p.add_argument(
        "--encoder",
        "--model",
        dest="encoders",
        action="extend",
        nargs="+",
        metavar="MODEL",
        help="encoders to evaluate: model directories from `rag train` or shipped names, compared side by "
        "side (`--encoder A B` or `--encoder A --encoder B`; default: the collection's)",
    )
    p.add_argument(
        "--modes",
        default="bm25,dense,hybrid",
        help="comma-separated: bm25, dense, hybrid (= hybrid-rrf and hybrid-linear), hybrid-rrf, "
        "hybrid-linear, hybrid-rsf, hybrid-dbsf (default bm25,dense,hybrid)",
    )
    p.add_argument(
        "--dense-weight",
        dest="dense_weight",
        type=float,
        help="hybrid rows: lambda of linear fusion (default 4) or the dense run's RRF weight (2)",
    )
    p.add_argument(
        "--rerank",
        dest="reranker",
        metavar="RERANKER",
        help="also each row reranked (its own row, with its latency): reader, llm, llm:MODEL or a "
        "CrossEncoder directory",
    )
    p.add_argument(
        "--rerank-candidates",
        dest="rerank_candidates",
        type=int,
        help="first-stage passages the reranker scores (default 50)",
    )
    p.add_argument("-k", dest="ks", default="1,5,20,100", help="comma-separated cut-offs (default 1,5,20,100)")
    p.add_argument(
        "--max-answer-passages",
        type=int,
        default=5,
        help="for questions judged by answer match only (NQ-open): leave out those whose answer is in "
        "more passages than this (default 5, the nq-vital rule; 0 = keep all)",
    )

    p = eval_sub.add_parser(
        "answers",
        help="answer quality: exact match, F1, answer contained, citations, support",
        description="Ask each question through the answer engine and score the answers against the "
        "gold ones. With --report DIR, answers are appended to DIR/results.jsonl as "
        "they come and a rerun resumes where it stopped.",
    )
    dataset_options(p)
    retrieval_options(p, answers=True)
    answer_options(p)
    p.add_argument(
        "--judge",
        metavar="MODEL",
        help="also ask this LLM (litellm string) whether each answer is "
        "supported by its passages: the faithfulness column (off by default)",
    )
    p.add_argument(
        "--max-answer-passages",
        type=int,
        default=0,
        help="for questions judged by answer match only (NQ-open): ask only those whose answer is in 1 to "
        "N passages of the collection (the nq-vital rule, N = 5); default 0 = ask all",
    )


def tune_parser(sub: Any) -> None:
    p = sub.add_parser(
        "tune",
        help="choose a collection's hybrid fusion on labelled questions (never below the "
        "best single retriever on them) and save it",
        description="Retrieve each question once, score every fusion method and weight (rrf, linear, "
        "rsf, dbsf) and dense and BM25 alone at each k, and save in the collection's record "
        "the best fusion that is at or above the best single retriever at every k (else "
        "that retriever). Searches and answers then use it unless --mode, --fusion, "
        "--dense-weight or their RAG_ settings are given.",
    )
    p.add_argument(
        "--qa",
        required=True,
        metavar="FILE",
        help="labelled questions: NQ-open jsonl, or FORMAT:PATH (squad, beir, llamaindex), e.g. from "
        "`rag generate-questions`",
    )
    common_options(p)
    p.add_argument("-k", dest="ks", default="1,5,20,100", help="cut-offs that must not lose (default 1,5,20,100)")
    p.add_argument("--limit", type=int, help="use only the first N questions")
    p.add_argument(
        "--max-answer-passages",
        type=int,
        default=5,
        help="leave out answer-only questions whose answer is in more passages than this (default 5, "
        "the nq-vital rule; 0 = keep all)",
    )
    p.add_argument("--dry-run", action="store_true", help="report the choice without saving it")
    p.add_argument("--json", action="store_true")
