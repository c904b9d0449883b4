"""Options several commands take (store, retrieval, answers, datasets), each written once."""

from __future__ import annotations

import argparse


def common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="store directory (env RAG_STORE; default ~/.local/share/rag)")
    parser.add_argument("--chroma-url", dest="chroma_url", help="Chroma server URL, e.g. http://127.0.0.1:8000 "
                        "(env RAG_CHROMA_URL; default: embedded Chroma in the store)")
    parser.add_argument("--collection", "-c", help="collection name (env RAG_COLLECTION)")
    backend_option(parser)


def backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["torch", "torch-bf16", "onnx", "onnx-int8"],
                        help="encoder runtime (env RAG_BACKEND): torch = sentence-transformers fp32 (default), "
                             "torch-bf16 = bfloat16 weights (fastest on CPUs with AMX/AVX512-BF16, and on GPUs), "
                             "onnx = ONNX Runtime fp32, onnx-int8 = ONNX Runtime with int8 weights (fastest on other "
                             "CPUs; ONNX models are exported locally on first use and cached)")


def workers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, help="processes that encode passages, the cores shared out among them "
                        "(env RAG_WORKERS; default 1; 2 on 2 cores is faster with torch-bf16)")


def retrieval_options(parser: argparse.ArgumentParser, answers: bool = False) -> None:
    parser.add_argument("--mode", choices=["dense", "bm25", "hybrid"], help="retriever (default hybrid)")
    if answers:
        parser.add_argument("-k", "--top-k", dest="context_k", type=int, help="passages the LLM reads (default 3)")
    else:
        parser.add_argument("-k", "--top-k", dest="top_k", type=int, help="passages to return (default 20)")
    parser.add_argument("--fusion", choices=["rrf", "linear", "rsf", "dbsf"],
                        help="hybrid fusion: DPR's linear BM25 + lambda * sim over z-scored runs (default), "
                             "reciprocal rank, relative score (min-max) or distribution-based (mean +- 3 sd)")
    parser.add_argument("--dense-weight", dest="dense_weight", type=float,
                        help="lambda of linear fusion (default 4) or the dense run's RRF weight (default 2)")
    parser.add_argument("--candidates", type=int, help="passages each retriever contributes to fusion (default 100)")
    parser.add_argument("--encoder", help="question encoder (default: the one the collection was built with)")
    parser.add_argument("--rerank", dest="reranker", metavar="RERANKER",
                        help="second stage over the first --rerank-candidates (50) passages: reader, llm, llm:MODEL, "
                             "a CrossEncoder directory, or none (default; env RAG_RERANKER)")
    parser.add_argument("--rerank-candidates", dest="rerank_candidates", type=int,
                        help="first-stage passages the reranker scores (default 50)")
    parser.add_argument("--where", action="append", metavar="KEY=VALUE", default=[],
                        help="only passages whose metadata meets this (repeatable, all must hold): "
                             "'source=docs/*', 'type=pdf', 'page<=3', 'year>=2020', 'lang!=de'; see docs/filters.md")


def answer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="LLM as a litellm model string, e.g. openai/gpt-4o-mini, ollama/llama3.1 "
                        "(env RAG_MODEL; default: the embedded local/smollm2)")
    parser.add_argument("--api-base", dest="api_base", help="LLM server URL (env RAG_API_BASE)")
    parser.add_argument("--max-tokens", dest="max_tokens", type=int, help="longest answer (default 256)")
    parser.add_argument("--prompts-dir", dest="prompts_dir", help="directory of prompt overrides (env RAG_PROMPTS_DIR)")
    parser.add_argument("--reader", metavar="DIR", help="the reader: each answer also gets its short answer, an exact "
                        "span of a retrieved passage (env RAG_READER; default the shipped reader-nq, or a directory "
                        "from `rag train-reader`)")
    parser.add_argument("--no-reader", dest="reader", action="store_const", const="none",
                        help="no reader (and so no span check, lead span or abstention)")
    parser.add_argument("--lead", dest="answer_lead", action=argparse.BooleanOptionalAction, default=None,
                        help="start the answer with the reader's span in its sentence, the LLM's prose after it only "
                             "when it agrees (env RAG_ANSWER_LEAD; default: on for the embedded model)")
    parser.add_argument("--reader-hint", dest="reader_hint", action="store_true", default=None,
                        help="with --reader: also give the LLM the reader's span as a hint (env RAG_READER_HINT)")
    parser.add_argument("--no-reader-check", dest="reader_check", action="store_false", default=None,
                        help="with --reader: keep the reader's own best span, without the local LLM's check of its "
                             "best spans (env RAG_READER_CHECK=false)")


def dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", metavar="FORMAT:PATH",
                        help="nq-open:FILE.jsonl, squad:FILE.json (SQuAD 1.1/2.0, XQuAD), beir:FOLDER, "
                             "llamaindex:FILE.json (LabelledRagDataset); the FORMAT: prefix may be left out")
    parser.add_argument("--qa", metavar="FILE", help="same as --dataset nq-open:FILE")
    parser.add_argument("--split", help="BEIR qrels split (default test, else dev)")
    common_options(parser)
    parser.add_argument("--distractors", metavar="NAME", help="with a dataset's own documents: also search this "
                        "collection's passages, as distractors")
    parser.add_argument("--limit", type=int, help="only the first N questions (a quick look)")
    parser.add_argument("--report", metavar="DIR", help="write report.md, per-question results.jsonl and PNG plots")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
