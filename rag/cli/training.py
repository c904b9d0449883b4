"""Commands that train and ship models: train, train-reader, generate-questions, package-model."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rag.cli.common import job_from, settings_from
from rag.cli.options import answer_options, common_options, config_option
from rag.jobs.options import DPRJob, ReaderJob, RerankerJob


def cmd_train(args: argparse.Namespace) -> int:
    from rag.jobs.training import TrainingInterrupted, run_training

    settings = settings_from(args)
    try:
        result = run_training(settings, job_from(DPRJob, args), progress=args.progress and not args.json)
    except TrainingInterrupted as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result.record, indent=2))
        return 0
    print(result.summary)
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from rag.jobs.reader_training import run_reader_training

    settings = settings_from(args)
    result = run_reader_training(settings, job_from(ReaderJob, args), progress=args.progress and not args.json)
    print(json.dumps(result.record, indent=2) if args.json else result.summary)
    return 0


def cmd_train_reranker(args: argparse.Namespace) -> int:
    from rag.jobs.reranker_training import run_reranker_training

    record = run_reranker_training(
        settings_from(args), job_from(RerankerJob, args), progress=args.progress and not args.json
    )
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(
            f"reranker trained on {record['examples']} questions: {record['out']}\n"
            f"use it with: rag search -c {record['collection']} --rerank {record['out']} QUESTION"
        )
    return 0


def cmd_package_model(args: argparse.Namespace) -> int:
    import subprocess

    from retrievers.encoders.shipped import SHIPPED, package

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True
        ).stdout.strip()
        commit = head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        commit = None
    if SHIPPED.get(args.name) == "reader":  # a reader's training record is in its reader.json, beside its heads
        from retrievers.reader import HEADS_FILE, READER_FILE, read_reader_record

        trained = [(read_reader_record(d) or {}).get("training") for d in args.model_dir]
        files = [HEADS_FILE, READER_FILE]
    else:
        from retrievers.training import read_training_record

        trained, files = [read_training_record(d) for d in args.model_dir], []
    target = package(args.model_dir, args.name, trained=trained, files=files, recipe=args.recipe, commit=commit)
    print(f"shipped {args.name} in {target} (trained at commit {commit or 'unknown'})")
    return 0


def cmd_generate_questions(args: argparse.Namespace) -> int:
    from prompts import load_prompt
    from prompts.templates import PromptError
    from rag.assembly import build_llm
    from rag.jobs.question_generation import generate_pairs
    from rag.llm.llamaindex import LlamaIndexLLM
    from rag.retrieval import resolve_collection
    from retrievers.errors import RagError
    from retrievers.stores import Collection

    settings = settings_from(args)
    llm = build_llm(settings)
    try:
        prompt = load_prompt("questions", directory=settings.prompts_dir)
    except PromptError as exc:
        raise RagError(str(exc)) from None
    coll = Collection(resolve_collection(settings, settings.collection), settings.store, chroma_url=settings.chroma_url)
    if coll.count() == 0:
        coll.close()
        raise RagError(f"collection {coll.name!r} is empty: ingest documents first")
    show = args.progress and not args.json

    def progress(done: int, total: int) -> None:
        print(f"\rquestions: {done}/{total} passages", end="", file=sys.stderr, flush=True)

    try:
        report = generate_pairs(
            coll,
            LlamaIndexLLM(llm=llm),
            args.out,
            passages=args.passages,
            per_passage=args.per_passage,
            prompt=prompt.text,
            seed=args.seed,
            overwrite=args.overwrite,
            resume=args.resume,
            progress=progress if show else None,
        )
    finally:
        coll.close()
        if show:
            print(file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(report.summary())
    print(f"next: rag train --qa {args.out} --collection {coll.name}")
    return 0


def train_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune the DPR encoders on your questions (in-batch + hard negatives)",
        description="Fine-tune the question and passage encoders (DPR). Questions with answers are "
        "turned into (question, positive, hard negatives) by BM25 over the collection; "
        "pair files are used as they are. Then `rag reindex` encodes a collection with "
        "the new model.",
    )
    p.add_argument(
        "--qa",
        required=True,
        metavar="FILE",
        help='training file: jsonl of {"question", "answer": [...]} (mined over --collection) '
        'or of {"question", "positive", "negatives": [...]}',
    )
    common_options(p)
    p.add_argument(
        "--base", help="model to start from: a shipped name or a model directory (default: the collection's encoder)"
    )
    p.add_argument("--out", help="model directory to write (default STORE/models/dpr-COLLECTION[-separate])")
    _dpr_training_options(p)
    p.add_argument(
        "--validation",
        metavar="FILE",
        help="held-out questions (same formats); default: --validation-fraction of the training file",
    )
    config_option(
        p, DPRJob, "validation_fraction", help="questions of the training file held out, without --validation"
    )
    config_option(p, DPRJob, "patience", help="evaluations without improvement before stopping")
    config_option(p, DPRJob, "seed", help="data order, mining and initialisation")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--json", action="store_true", help="print the training record as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def _dpr_training_options(p: Any) -> None:
    """`rag train`'s hyper-parameters and mining rules."""
    config_option(p, DPRJob, "epochs", metavar="N", help="passes over the data")
    config_option(
        p,
        DPRJob,
        "train_batch_size",
        "--batch-size",
        metavar="N",
        help="questions per batch; each sees the others' passages as negatives (DPR used 128)",
    )
    config_option(
        p,
        DPRJob,
        "mini_batch_size",
        help="below --batch-size: cached (GradCache) loss, large batches in the memory of small ones",
    )
    config_option(p, DPRJob, "learning_rate", metavar="LR", help="peak learning rate")
    config_option(
        p,
        DPRJob,
        "max_seq_length",
        help="tokens kept of each text while training (96% of wiki-vital passages fit in 192)",
    )
    config_option(p, DPRJob, "hard_negatives", help="BM25 hard negatives per question (1 as DPR)")
    config_option(
        p,
        DPRJob,
        "dense_negatives",
        help="also this many hard negatives from the collection's dense retriever (1: +2 points of "
        "top-20 on nq-vital; 0 = BM25 negatives only, as DPR)",
    )
    config_option(
        p,
        DPRJob,
        "dense_positives",
        action="store_true",
        help="a question with no answer in BM25's top --depth takes the dense retriever's best passage "
        "with one as its positive (DPR: BM25's only)",
    )
    config_option(p, DPRJob, "depth", help="BM25 passages searched for a positive")
    config_option(
        p,
        DPRJob,
        "max_answer_passages",
        help="drop questions whose answer occurs in more passages than this (0 = keep all, as DPR)",
    )
    config_option(
        p,
        DPRJob,
        "separate_encoders",
        action="store_true",
        help="train two towers (question and passage encoder) as DPR does; default one shared model",
    )
    config_option(
        p,
        DPRJob,
        "lora_rank",
        metavar="R",
        help="train a LoRA delta of rank R instead of every weight (a few MB; how the shipped dpr-nq is "
        "made); 0 = full fine-tuning",
    )
    config_option(p, DPRJob, "lora_alpha", help="LoRA scaling numerator (scale = alpha / rank)")


def train_reader_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train-reader",
        help="train DPR's extractive reader on questions by distant supervision",
        description="Train the reader (an answer-span model with a passage-selection score, DPR "
        "section 6). NQ-open style questions are labelled over --collection: passages "
        "of the hybrid retriever's top --depth that hold a normalised answer are "
        "positives (every occurrence a gold span), the others negatives. SQuAD-format "
        "files bring their own spans. Then `rag ask --reader DIR`.",
    )
    p.add_argument(
        "--qa",
        required=True,
        metavar="FILE",
        nargs="+",
        help='jsonl of {"question", "answer": [...]} (NQ-open), or a SQuAD-format JSON file; several '
        "files (of either format) are mixed into one training set",
    )
    common_options(p)
    p.add_argument("--base", help="encoder to start from (default: the configured encoder, all-MiniLM-L6-v2)")
    p.add_argument("--out", help="reader directory to write (default STORE/models/reader-COLLECTION)")
    config_option(p, ReaderJob, "epochs", metavar="N", help="passes over the data")
    config_option(
        p,
        ReaderJob,
        "passages",
        metavar="M",
        help="passages read per question in training: a positive and M-1 negatives (DPR: 24)",
    )
    config_option(p, ReaderJob, "questions_per_step", metavar="N", help="questions per optimiser step")
    config_option(p, ReaderJob, "learning_rate", metavar="LR", help="encoder learning rate")
    config_option(p, ReaderJob, "max_length", help="question + passage tokens read")
    config_option(
        p,
        ReaderJob,
        "seeds",
        metavar="N",
        help="train N readers from the same start on different data orders and average their weights "
        "(N times the training time)",
    )
    config_option(
        p,
        ReaderJob,
        "lora_rank",
        metavar="R",
        help="train a LoRA delta of rank R on the encoder instead of every weight (a few MB; how the "
        "shipped reader-nq is made; 0 = full fine-tuning)",
    )
    config_option(
        p,
        ReaderJob,
        "cloze",
        metavar="N",
        help="first pretrain the span head on N cloze questions made from the collection's passages "
        "(unsupervised QA: a date, number or name blanked out of a sentence; 0: none)",
    )
    p.add_argument(
        "--cloze-from",
        dest="cloze_from",
        metavar="COLLECTION",
        help="make the cloze questions from this collection's passages instead (e.g. your documents, "
        "while the labelled questions are over another)",
    )
    config_option(p, ReaderJob, "depth", help="retrieved passages searched for positives")
    config_option(p, ReaderJob, "max_positives", help="positive passages kept per question (one is read per step)")
    config_option(p, ReaderJob, "read", help="passages the reader reads per held-out question")
    p.add_argument("--limit", type=int, help="use only the first N questions of the file")
    p.add_argument(
        "--validation",
        metavar="FILE",
        help="held-out questions (same formats); default: --validation-fraction of the training file",
    )
    config_option(
        p, ReaderJob, "validation_fraction", help="questions of the training file held out, without --validation"
    )
    config_option(p, ReaderJob, "seed", help="data order and initialisation")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--json", action="store_true", help="print the training record as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def train_reranker_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train-reranker",
        help="train a cross-encoder reranker on labelled questions over a collection",
        description="Mine each question's positive passage and its BM25 and dense hard negatives over "
        "the collection (as `rag train` does), then train a CrossEncoder from the shipped "
        "MiniLM on (question, passage) pairs; use it with --rerank DIR.",
    )
    p.add_argument("--qa", required=True, metavar="FILE", help="questions with answers (NQ-open jsonl), or pairs")
    common_options(p)
    p.add_argument("--out", required=True, metavar="DIR", help="the reranker directory to write")
    config_option(p, RerankerJob, "base", help="model to start from")
    config_option(p, RerankerJob, "epochs", help="passes over the pairs")
    config_option(p, RerankerJob, "questions_per_step", help="questions per step (each with its negatives)")
    config_option(p, RerankerJob, "learning_rate", help="peak learning rate")
    config_option(p, RerankerJob, "max_length", help="tokens of question and passage")
    config_option(p, RerankerJob, "hard_negatives", help="BM25 hard negatives per question")
    config_option(p, RerankerJob, "dense_negatives", help="dense hard negatives per question")
    config_option(p, RerankerJob, "depth", help="passages searched for positives and negatives")
    config_option(
        p,
        RerankerJob,
        "max_answer_passages",
        help="leave out questions whose answer is in more passages than this (0 = keep all)",
    )
    config_option(p, RerankerJob, "seed", help="mining and training order")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def generate_questions_parser(sub: Any) -> None:
    p = sub.add_parser(
        "generate-questions",
        help="have an LLM write training questions for a collection's passages",
        description="For collections with no questions of their own: an LLM (--model; default the "
        "embedded one, which is tiny: use a capable model for real data) writes questions "
        "that sampled passages answer (LlamaIndex's question-context recipe). "
        "The output is a pair file for `rag train --qa OUT`.",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="pair file (jsonl) to write")
    common_options(p)
    answer_options(p)
    p.add_argument(
        "--passages", type=int, default=200, metavar="N", help="passages to sample (default 200; 0 = every passage)"
    )
    p.add_argument("--per-passage", type=int, default=1, metavar="N", help="questions per passage (default 1)")
    p.add_argument("--seed", type=int, default=42, help="which passages are sampled")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run, or add passages to a finished file (same --seed)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def package_model_parser(sub: Any) -> None:
    p = sub.add_parser(
        "package-model",
        help="ship a LoRA-trained model inside the package (used by `make models`)",
        description="Copy the LoRA delta of a model trained with --lora-rank into the package as a "
        "shipped model (dpr-nq: `rag train`; reader-nq: `rag train-reader`), with a "
        "record of its recipe, data, validation figures, commit and checksums.",
    )
    p.add_argument(
        "model_dir",
        metavar="DIR",
        nargs="+",
        help="the trained model; several encoders (same LoRA settings) ship as their uniform soup, the mean delta",
    )
    p.add_argument("--name", required=True, choices=["dpr-nq", "reader-nq"])
    p.add_argument("--recipe", required=True, help="the command that trained it (kept in the record)")
