"""`rag`'s argument parser: the commands in the order `rag --help` lists them, each one's options in its
own module."""

from __future__ import annotations

import argparse

from rag.cli import answers, benchmarks, documents, evaluation, serving, training


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Retrieval-augmented chat backend on Dense Passage Retrieval (DPR + BM25)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    documents.ingest_parser(sub)
    documents.encode_parser(sub)
    answers.search_parser(sub)
    answers.ask_chat_parser(sub)
    training.train_parser(sub)
    training.train_reader_parser(sub)
    training.train_reranker_parser(sub)
    training.generate_questions_parser(sub)
    training.package_model_parser(sub)
    documents.reindex_parser(sub)
    evaluation.eval_parser(sub)
    serving.serve_parser(sub)
    evaluation.tune_parser(sub)
    benchmarks.bench_parser(sub)
    benchmarks.loadtest_parser(sub)
    documents.collections_parser(sub)
    documents.sources_parser(sub)
    documents.delete_parser(sub)
    documents.compact_parser(sub)
    serving.keys_parser(sub)
    return parser
