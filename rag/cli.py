"""The `rag` command line. Heavy libraries are imported inside commands so `rag --help` is instant."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="store directory (env RAG_STORE; default ~/.local/share/rag)")
    parser.add_argument("--chroma-url", dest="chroma_url", help="Chroma server URL, e.g. http://127.0.0.1:8000 "
                        "(env RAG_CHROMA_URL; default: embedded Chroma in the store)")
    parser.add_argument("--collection", "-c", help="collection name (env RAG_COLLECTION)")
    _backend_option(parser)


def _backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["torch", "torch-bf16", "onnx", "onnx-int8"],
                        help="encoder runtime (env RAG_BACKEND): torch = sentence-transformers fp32 (default), "
                             "torch-bf16 = bfloat16 weights (fastest on CPUs with AMX/AVX512-BF16, and on GPUs), "
                             "onnx = ONNX Runtime fp32, onnx-int8 = ONNX Runtime with int8 weights (fastest on other "
                             "CPUs; ONNX models are exported locally on first use and cached)")


def _workers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, help="processes that encode passages, the cores shared out among them "
                        "(env RAG_WORKERS; default 1; 2 on 2 cores is faster with torch-bf16)")


def _retrieval_options(parser: argparse.ArgumentParser, answers: bool = False) -> None:
    parser.add_argument("--mode", choices=["dense", "bm25", "hybrid"], help="retriever (default hybrid)")
    if answers:
        parser.add_argument("-k", "--top-k", dest="context_k", type=int, help="passages the LLM reads (default 3)")
    else:
        parser.add_argument("-k", "--top-k", dest="top_k", type=int, help="passages to return (default 20)")
    parser.add_argument("--fusion", choices=["rrf", "linear"], help="hybrid fusion: DPR's linear BM25 + lambda "
                        "* sim over z-scored runs (default) or reciprocal rank")
    parser.add_argument("--dense-weight", dest="dense_weight", type=float,
                        help="lambda of linear fusion (default 4) or the dense run's RRF weight (default 2)")
    parser.add_argument("--candidates", type=int, help="passages each retriever contributes to fusion (default 100)")
    parser.add_argument("--encoder", help="question encoder (default: the one the collection was built with)")


def _answer_options(parser: argparse.ArgumentParser) -> None:
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


def _dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", metavar="FORMAT:PATH",
                        help="nq-open:FILE.jsonl, squad:FILE.json (SQuAD 1.1/2.0, XQuAD), beir:FOLDER, "
                             "llamaindex:FILE.json (LabelledRagDataset); the FORMAT: prefix may be left out")
    parser.add_argument("--qa", metavar="FILE", help="same as --dataset nq-open:FILE")
    parser.add_argument("--split", help="BEIR qrels split (default test, else dev)")
    _common(parser)
    parser.add_argument("--distractors", metavar="NAME", help="with a dataset's own documents: also search this "
                        "collection's passages, as distractors")
    parser.add_argument("--limit", type=int, help="only the first N questions (a quick look)")
    parser.add_argument("--report", metavar="DIR", help="write report.md, per-question results.jsonl and PNG plots")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Retrieval-augmented chat backend on Dense Passage Retrieval (DPR + BM25).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ingest", help="add files, folders or a built-in corpus to a collection",
                       description="Ingest .txt .md .html .pdf .jsonl .json files, folders of them, or the built-in "
                                   "corpus 'wiki-vital'. Re-ingesting is incremental.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    _common(p)
    p.add_argument("--encoder", help="encoder for a new collection: a shipped model name or a model directory")
    p.add_argument("--passage-words", dest="passage_words", type=int, help="passage length in words (default 100)")
    p.add_argument("--split-records", dest="split_records", action="store_true", default=None,
                   help="also split JSON/JSONL records and built-in corpora into passages")
    p.add_argument("--prune", action="store_true", help="remove passages of files gone from the given folders")
    p.add_argument("--vectors", metavar="DIR", help="passage vectors encoded ahead by `rag encode --out DIR` "
                   "shards: passages found there are not encoded again")
    _workers_option(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")

    p = sub.add_parser("encode", help="encode one shard of the passage vectors of files or a corpus (a batch job)",
                       description="Read the inputs as `rag ingest` would, keep the passages of shard I of N, encode "
                                   "them and write DIR/shard-I-of-N. Run N of these at once (machines, GPUs), then "
                                   "`rag ingest PATH... --vectors DIR` builds the collection without encoding again.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of vector shards")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="which shard of how many (default 0/1: all)")
    p.add_argument("--encoder", help="passage encoder (default all-MiniLM-L6-v2); the collection must use the same")
    p.add_argument("--passage-words", dest="passage_words", type=int, help="passage length in words (default 100)")
    p.add_argument("--split-records", dest="split_records", action="store_true", default=None,
                   help="also split JSON/JSONL records and built-in corpora into passages")
    p.add_argument("--device", help="torch device, e.g. cuda (env RAG_DEVICE)")
    p.add_argument("--batch-size", dest="batch_size", type=int, help="encoder batch size (default 32)")
    _backend_option(p)
    _workers_option(p)
    p.add_argument("--overwrite", action="store_true", help="encode a shard that is already finished again")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")

    p = sub.add_parser("search", help="retrieve passages for a question (interactive without one)")
    p.add_argument("question", nargs="?", help="the question; omit it for an interactive prompt")
    _common(p)
    _retrieval_options(p)
    p.add_argument("--json", action="store_true", help='print [{"id","score","title","source","text"}, ...]')

    for name, text in (("ask", "answer a question from a collection, with cited sources"),
                       ("chat", "interactive chat with history (/sources, /reset, /quit)")):
        p = sub.add_parser(name, help=text)
        if name == "ask":
            p.add_argument("question")
        _common(p)
        _retrieval_options(p, answers=True)
        _answer_options(p)
        if name == "ask":
            p.add_argument("--json", action="store_true",
                           help='print {"answer", "sources", "model", "timings", ...} instead of streaming')

    p = sub.add_parser("train", help="fine-tune the DPR encoders on your questions (in-batch + hard negatives)",
                       description="Fine-tune the question and passage encoders (DPR). Questions with answers are "
                                   "turned into (question, positive, hard negatives) by BM25 over the collection; "
                                   "pair files are used as they are. Then `rag reindex` encodes a collection with "
                                   "the new model.")
    p.add_argument("--qa", required=True, metavar="FILE",
                   help='training file: jsonl of {"question", "answer": [...]} (mined over --collection) '
                        'or of {"question", "positive", "negatives": [...]}')
    _common(p)
    p.add_argument("--base", help="model to start from: a shipped name or a model directory (default: the "
                                  "collection's encoder)")
    p.add_argument("--out", help="model directory to write (default STORE/models/dpr-COLLECTION[-separate])")
    p.add_argument("--epochs", type=int, default=4, metavar="N", help="passes over the data (default 4)")
    p.add_argument("--batch-size", dest="train_batch_size", type=int, default=32, metavar="N",
                   help="questions per batch; each sees the others' passages as negatives (default 32; DPR used 128)")
    p.add_argument("--mini-batch-size", type=int, default=32,
                   help="below --batch-size: cached (GradCache) loss, large batches in the memory of small ones")
    p.add_argument("--learning-rate", type=float, default=5e-5, metavar="LR", help="peak learning rate (default 5e-5)")
    p.add_argument("--max-seq-length", type=int, default=192,
                   help="tokens kept of each text while training (default 192: 96%% of wiki-vital passages fit)")
    p.add_argument("--hard-negatives", type=int, default=1, help="BM25 hard negatives per question (default 1, as DPR)")
    p.add_argument("--dense-negatives", type=int, default=1,
                   help="also this many hard negatives from the collection's dense retriever (default 1: +2 points "
                        "of top-20 on nq-vital; 0 = BM25 negatives only, as DPR)")
    p.add_argument("--depth", type=int, default=100, help="BM25 passages searched for a positive (default 100)")
    p.add_argument("--max-answer-passages", type=int, default=20,
                   help="drop questions whose answer occurs in more passages than this (default 20; 0 = keep "
                        "all, as DPR)")
    p.add_argument("--separate-encoders", action="store_true",
                   help="train two towers (question and passage encoder) as DPR does; default one shared model")
    p.add_argument("--lora-rank", type=int, default=0, metavar="R",
                   help="train a LoRA delta of rank R instead of every weight (a few MB; how the shipped dpr-nq is "
                        "made); default 0 = full fine-tuning")
    p.add_argument("--lora-alpha", type=float, default=32.0, help="LoRA scaling numerator (scale = alpha / rank)")
    p.add_argument("--validation", metavar="FILE", help="held-out questions (same formats); default: "
                                                         "--validation-fraction of the training file")
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--patience", type=int, default=2, help="evaluations without improvement before stopping")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--json", action="store_true", help="print the training record as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false")

    p = sub.add_parser("train-reader", help="train DPR's extractive reader on questions by distant supervision",
                       description="Train the reader (an answer-span model with a passage-selection score, DPR "
                                   "section 6). NQ-open style questions are labelled over --collection: passages "
                                   "of the hybrid retriever's top --depth that hold a normalised answer are "
                                   "positives (every occurrence a gold span), the others negatives. SQuAD-format "
                                   "files bring their own spans. Then `rag ask --reader DIR`.")
    p.add_argument("--qa", required=True, metavar="FILE", nargs="+",
                   help='jsonl of {"question", "answer": [...]} (NQ-open), or a SQuAD-format JSON file; several '
                        'files (of either format) are mixed into one training set')
    _common(p)
    p.add_argument("--base", help="encoder to start from (default: the configured encoder, all-MiniLM-L6-v2)")
    p.add_argument("--out", help="reader directory to write (default STORE/models/reader-COLLECTION)")
    # defaults None: ReaderTrainConfig's apply (the help repeats them; a test keeps the two in step)
    p.add_argument("--epochs", type=int, metavar="N", help="passes over the data (default 3)")
    p.add_argument("--passages", type=int, metavar="M",
                   help="passages read per question in training: a positive and M-1 negatives (default 4; DPR: 24)")
    p.add_argument("--questions-per-step", dest="questions_per_step", type=int, metavar="N",
                   help="questions per optimiser step (default 4)")
    p.add_argument("--learning-rate", dest="learning_rate", type=float, metavar="LR",
                   help="encoder learning rate (default 1e-4)")
    p.add_argument("--max-length", dest="max_length", type=int,
                   help="question + passage tokens read (default 256)")
    p.add_argument("--seeds", type=int, metavar="N",
                   help="train N readers from the same start on different data orders and average their weights "
                        "(default 1; N times the training time)")
    p.add_argument("--lora-rank", dest="lora_rank", type=int, metavar="R",
                   help="train a LoRA delta of rank R on the encoder instead of every weight (a few MB; how the "
                        "shipped reader-nq is made; default 0 = full fine-tuning)")
    p.add_argument("--cloze", type=int, default=0, metavar="N",
                   help="first pretrain the span head on N cloze questions made from the collection's passages "
                        "(unsupervised QA: a date, number or name blanked out of a sentence; default 0: none)")
    p.add_argument("--cloze-from", dest="cloze_from", metavar="COLLECTION",
                   help="make the cloze questions from this collection's passages instead (e.g. your documents, "
                        "while the labelled questions are over another)")
    p.add_argument("--depth", type=int, default=20, help="retrieved passages searched for positives (default 20)")
    p.add_argument("--max-positives", dest="max_positives", type=int, default=2,
                   help="positive passages kept per question (default 2; one is read per step)")
    p.add_argument("--read", type=int, default=10, help="passages the reader reads per held-out question (default 10)")
    p.add_argument("--limit", type=int, help="use only the first N questions of the file")
    p.add_argument("--validation", metavar="FILE", help="held-out questions (same formats); default: "
                                                         "--validation-fraction of the training file")
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--json", action="store_true", help="print the training record as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false")

    p = sub.add_parser("generate-questions", help="have an LLM write training questions for a collection's passages",
                       description="For collections with no questions of their own: an LLM (--model; default the "
                                   "embedded one, which is tiny: use a capable model for real data) writes questions "
                                   "that sampled passages answer (LlamaIndex's question-context recipe). "
                                   "The output is a pair file for `rag train --qa OUT`.")
    p.add_argument("--out", required=True, metavar="FILE", help="pair file (jsonl) to write")
    _common(p)
    _answer_options(p)
    p.add_argument("--passages", type=int, default=200, metavar="N",
                   help="passages to sample (default 200; 0 = every passage)")
    p.add_argument("--per-passage", type=int, default=1, metavar="N", help="questions per passage (default 1)")
    p.add_argument("--seed", type=int, default=42, help="which passages are sampled")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run, or add passages to a finished file (same --seed)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false")

    p = sub.add_parser("package-model", help="ship a LoRA-trained model inside the package (used by `make models`)",
                       description="Copy the LoRA delta of a model trained with --lora-rank into the package as a "
                                   "shipped model (dpr-nq: `rag train`; reader-nq: `rag train-reader`), with a "
                                   "record of its recipe, data, validation figures, commit and checksums.")
    p.add_argument("model_dir", metavar="DIR")
    p.add_argument("--name", required=True, choices=["dpr-nq", "reader-nq"])
    p.add_argument("--recipe", required=True, help="the command that trained it (kept in the record)")

    p = sub.add_parser("reindex", help="encode a collection's passages with another encoder, into a new collection",
                       description="Copy a collection's passages into COLLECTION.MODEL (or --into), encoded with "
                                   "--encoder. The source is left as it is; re-running is incremental.")
    p.add_argument("source", metavar="COLLECTION")
    p.add_argument("--encoder", required=True, help="a model directory (e.g. from `rag train`) or shipped name")
    p.add_argument("--into", help="target collection (default SOURCE.MODEL_DIR_NAME)")
    p.add_argument("--store", help="store directory (env RAG_STORE; default ~/.local/share/rag)")
    p.add_argument("--chroma-url", dest="chroma_url", help="Chroma server URL (env RAG_CHROMA_URL)")
    _backend_option(p)
    _workers_option(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", dest="progress", action="store_false")

    p = sub.add_parser("eval", help="evaluate retrieval (top-k accuracy, recall, MRR, nDCG) or answers (EM, F1, ...)")
    eval_sub = p.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    p = eval_sub.add_parser("retrieval", help="BM25, dense and hybrid retrieval side by side, per encoder",
                            description="DPR's Table-2 metric (the share of questions with an answer-bearing passage "
                                        "in the top k) and, where the dataset has gold documents, recall@k, MRR@10 and "
                                        "nDCG@10. Each --encoder other than the collection's is evaluated on a "
                                        "re-encoded copy (see `rag reindex`).")
    _dataset_options(p)
    p.add_argument("--encoder", "--model", dest="encoders", action="extend", nargs="+", metavar="MODEL",
                   help="encoders to evaluate: model directories from `rag train` or shipped names, compared side by "
                        "side (`--encoder A B` or `--encoder A --encoder B`; default: the collection's)")
    p.add_argument("--modes", default="bm25,dense,hybrid",
                   help="comma-separated: bm25, dense, hybrid (= hybrid-rrf and hybrid-linear), hybrid-rrf, "
                        "hybrid-linear (default all)")
    p.add_argument("--dense-weight", dest="dense_weight", type=float,
                   help="hybrid rows: lambda of linear fusion (default 4) or the dense run's RRF weight (2)")
    p.add_argument("-k", dest="ks", default="1,5,20,100", help="comma-separated cut-offs (default 1,5,20,100)")
    p.add_argument("--max-answer-passages", type=int, default=5,
                   help="for questions judged by answer match only (NQ-open): leave out those whose answer is in "
                        "more passages than this (default 5, the nq-vital rule; 0 = keep all)")

    p = eval_sub.add_parser("answers", help="answer quality: exact match, F1, answer contained, citations, support",
                            description="Ask each question through the answer engine and score the answers against the "
                                        "gold ones. With --report DIR, answers are appended to DIR/results.jsonl as "
                                        "they come and a rerun resumes where it stopped.")
    _dataset_options(p)
    _retrieval_options(p, answers=True)
    _answer_options(p)
    p.add_argument("--judge", metavar="MODEL", help="also ask this LLM (litellm string) whether each answer is "
                   "supported by its passages: the faithfulness column (off by default)")
    p.add_argument("--max-answer-passages", type=int, default=0,
                   help="for questions judged by answer match only (NQ-open): ask only those whose answer is in 1 to "
                        "N passages of the collection (the nq-vital rule, N = 5); default 0 = ask all")

    p = sub.add_parser("serve", help="serve the OpenAI-compatible HTTP API",
                       description="POST /v1/chat/completions (OpenAI-compatible; model = collection), /v1/retrieve, "
                                   "/v1/ingest, GET /v1/models, /healthz. Listens on 127.0.0.1 unless told otherwise; "
                                   "any other address needs an API token.")
    _common(p)
    _retrieval_options(p, answers=True)
    _answer_options(p)
    p.add_argument("--host", help="address to listen on (env RAG_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (env RAG_PORT; default 7860)")
    p.add_argument("--api-token", dest="api_token", help="bearer token the API requires (env RAG_API_TOKEN)")

    p = sub.add_parser("bench", help="measure ingest speed, query latency, memory and disk; compare with stock LlamaIndex",
                       description="Ingest the built-in corpus (or samples and perturbed copies of it) into fresh stores, "
                                   "once per backend, each in its own process, and time it; time warm queries per "
                                   "mode at k=20, the answer path (first token, tokens/s), peak RSS and size on "
                                   "disk; time the stock LlamaIndex pipeline on the same passages and vectors. "
                                   "With --qa (nq-open questions) it also reports top-20 accuracy of both.")
    p.add_argument("--sizes", default="1000,10033",
                   help="corpus sizes in passages, comma-separated (default 1000,10033 = the whole built-in corpus)")
    p.add_argument("--large", action="store_true", help="also 100,000 passages (synthesised; encodes for a long time)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 200 passages, 20 queries, one answer")
    p.add_argument("--backends",
                   help="encoder backends to compare, comma-separated (default torch,torch-bf16,onnx-int8, without "
                        "torch-bf16 on CPUs that lack native bfloat16; the last one is also the one the LlamaIndex "
                        "pipeline and the answer path use)")
    p.add_argument("--queries", type=int, help="timed queries per mode (default 200)")
    p.add_argument("--qa", metavar="FILE", help="nq-open questions (jsonl): timed queries and top-20 accuracy")
    p.add_argument("--answers", type=int, help="questions answered to time the first token (default 5; 0 = skip)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the stock LlamaIndex pipeline")
    p.add_argument("--work-dir", help="build the stores here and keep them (default: a temporary folder)")
    p.add_argument("--encoder", help="encoder (default all-MiniLM-L6-v2)")
    _answer_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", metavar="FILE", help="also write that JSON object to FILE")

    p = sub.add_parser("loadtest", help="a bounded load test of a running rag serve: throughput, latency, failures",
                       description="Send N requests, C at a time, to a running server's /v1/retrieve, "
                                   "/v1/chat/completions or /healthz; report requests/s, latency p50/p95/p99 and every "
                                   "failure (a reply that is not 200 with a well-formed body). Exit status 1 if any failed.")
    p.add_argument("--url", default="http://127.0.0.1:7860", help="the server (default http://127.0.0.1:7860)")
    p.add_argument("--endpoint", choices=["retrieve", "chat", "health"], default="retrieve",
                   help="what to load (default retrieve; chat also runs the LLM)")
    p.add_argument("--requests", type=int, default=200, help="requests in all (default 200)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    p.add_argument("--qa", metavar="FILE", help="nq-open questions (jsonl) to send (default: a few built in)")
    p.add_argument("-c", "--collection", help="collection to query (default: the server's)")
    p.add_argument("--api-token", dest="api_token", help="bearer token, if the server needs one (env RAG_API_TOKEN)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds one request may take (default 60)")
    p.add_argument("--deadline", type=float, default=600.0, help="seconds the whole run may take (default 600)")
    p.add_argument("--hostile", type=int, metavar="N",
                   help="also send N attacks (slow and oversized bodies, cache-busting chats, path-like models and "
                        "collections, rebound hosts, cross-site writes, wrong keys) from another loopback address, "
                        "with an unloaded and a loaded /v1/retrieve probe and the server's memory: exit status 1 "
                        "unless every attack is refused, no normal request fails, RSS grows < --max-rss-growth MB "
                        "and the probe's p95 stays < --max-p95-ratio x unloaded. --hostile 0 is the control: the "
                        "same measured run with no attacks")
    p.add_argument("--pid", type=int, help="with --hostile: the server's pid, for its memory (default: the store's "
                                           "running rag serve when it listens on --url's port)")
    p.add_argument("--attacker-address", dest="attacker_address",
                   help="with --hostile: local address the attacks come from (default 127.0.0.2 for a loopback "
                        "server; '' = this machine's own)")
    p.add_argument("--max-tokens", dest="load_max_tokens", type=int, metavar="N",
                   help="max_tokens sent with each chat (default: the server's)")
    p.add_argument("--max-rss-growth", dest="max_rss_growth", type=float, default=200.0, metavar="MB")
    p.add_argument("--max-p95-ratio", dest="max_p95_ratio", type=float, default=2.0)
    p.add_argument("--store", help="the server's store, to find its pid (env RAG_STORE)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("collections", help="list collections")
    _common(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("delete", help="delete a collection with its vectors and indexes, or only some of its sources")
    p.add_argument("name")
    p.add_argument("--source", action="append", metavar="SOURCE",
                   help="delete only this source's passages (a path as ingested, or an uploaded file's name); repeatable")
    p.add_argument("--list-sources", action="store_true", help="list the collection's sources and delete nothing")
    _common(p)
    _keys_parser(sub)
    return parser


def _settings(args: argparse.Namespace) -> Any:
    from .config import Settings

    keys = ("store", "chroma_url", "collection", "encoder", "passage_words", "split_records", "mode", "top_k",
            "fusion", "dense_weight", "candidates", "model", "api_base", "context_k", "max_tokens", "prompts_dir",
            "host", "port", "api_token", "backend", "device", "batch_size", "workers", "reader",
            "reader_hint", "reader_check", "answer_lead")
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    import tomllib

    from retrievers.errors import RagError

    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise RagError(f"the config file (~/.config/rag/config.toml or RAG_CONFIG) is not valid TOML: {exc}") from None


def _hit_json(passage: Any, score: float) -> dict:
    return {"id": passage.id, "score": round(float(score), 6), "title": passage.title, "source": passage.source,
            "text": passage.text, "position": passage.position, "metadata": dict(passage.extra)}


def _print_hits(hits: Sequence[tuple[Any, float]]) -> None:
    if not hits:
        print("no passages matched")
    for rank, (passage, score) in enumerate(hits, start=1):
        where = passage.source if passage.source != passage.title else ""
        text = " ".join(passage.text.split())
        print(f"{rank:3d}. [{score:.4f}] {passage.title}" + (f"  ({where}#{passage.position})" if where else ""))
        print(f"     {text[:240]}{'…' if len(text) > 240 else ''}")


def _print_report(report: Any, as_json: bool) -> int:
    """A report's summary (or its JSON); exit status 1 when it did nothing useful."""
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if as_json else report.summary())
    return 0 if report.ok else 1


def _check_writable(settings: Any, what: str) -> None:
    """A running `rag serve` is its store's only writer (an embedded Chroma store has one writer)."""
    from .store_owner import check_writable

    if settings.chroma_url is None:
        check_writable(settings.store, what)


def cmd_ingest(args: argparse.Namespace) -> int:
    from .ingestion import ingest

    settings = _settings(args)
    _check_writable(settings, "add files")
    report = ingest(args.paths, settings, prune=args.prune, progress=args.progress and not args.json,
                    vectors=args.vectors)
    return _print_report(report, args.json)


def cmd_encode(args: argparse.Namespace) -> int:
    from retrievers.vector_shards import parse_shard

    from .encoding import encode

    shard, count = parse_shard(args.shard)
    settings = _settings(args)
    report = encode(args.paths, settings, args.out, shard=shard, num_shards=count, overwrite=args.overwrite,
                    progress=args.progress and not args.json)
    return _print_report(report, args.json)


def cmd_search(args: argparse.Namespace) -> int:
    from .retrieval import open_collection, open_retriever

    settings = _settings(args)
    coll = open_collection(settings)
    retriever = open_retriever(settings, coll)
    if args.question is not None:
        if not args.question.strip():
            print("error: the question is empty", file=sys.stderr)
            return 2
        hits = retriever.search(args.question)
        if args.json:
            print(json.dumps([_hit_json(p, s) for p, s in hits], indent=2, ensure_ascii=False))
        else:
            _print_hits(hits)
        return 0
    print(f"searching {coll.name} ({coll.count()} passages, {settings.mode}); an empty line or Ctrl-D quits",
          file=sys.stderr)
    for question in _lines("search> "):
        if not question or question in (":q", "/quit", "quit", "exit"):
            break
        _print_hits(retriever.search(question))
    return 0


def _lines(prompt: str) -> Iterator[str]:
    """Lines typed at an interactive prompt, until end of input or Ctrl-C."""
    while True:
        try:
            yield input(prompt).strip()
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return


def _print_short_answers(answer: Any) -> None:
    for label, short in (("short answer", getattr(answer, "short_answer", None)),
                         ("in the passage", getattr(answer, "grounded", None))):
        if short is not None:
            print(f"{label}: {short.text} [{short.source}]")


def _print_sources(answer: Any) -> None:
    _print_short_answers(answer)
    shown = answer.cited or answer.sources
    label = "sources" if answer.cited else "retrieved (none cited)"
    if not shown:
        return
    print(f"\n{label}:")
    for s in shown:
        d = s.to_dict()
        where = d["source"] if d["source"] != d["title"] else ""
        print(f"  [{d['n']}] {d['title']}" + (f" ({where})" if where else "") + f"  score {d['score']:.4f}")


def _stream_answer(stream: Any) -> Any:
    for piece in stream:
        print(piece, end="", flush=True)
    print()
    return stream.answer


def cmd_ask(args: argparse.Namespace) -> int:
    from .app import build_engine
    from .engine import GenerationFailed

    engine = build_engine(_settings(args))
    try:
        if args.json:
            print(json.dumps(engine.ask(args.question).to_dict(), indent=2, ensure_ascii=False))
        else:
            _print_sources(_stream_answer(engine.stream(args.question)))
    except GenerationFailed as failed:  # the passages were found: show them beside the model's error
        if args.json:
            print(json.dumps(failed.to_dict(), indent=2, ensure_ascii=False))
        else:
            print()
            _print_sources(failed)
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from .app import build_engine
    from .engine import ChatSession

    engine = build_engine(_settings(args))
    chat = ChatSession(engine)
    print(f"chatting with {engine.llm.model} over {engine.retriever.collection.name}; "
          "/sources, /reset, /quit", file=sys.stderr)
    for line in _lines("you> "):
        if not line:
            continue
        if line in ("/quit", "/exit", "/q"):
            break
        if line == "/reset":
            chat.reset()
            print("(history cleared)")
            continue
        if line == "/sources":
            if chat.last is None:
                print("(no answer yet)")
            else:
                _print_sources(chat.last)
            continue
        if line.startswith("/"):
            print("commands: /sources, /reset, /quit")
            continue
        print("rag> ", end="", flush=True)
        _print_short_answers(_stream_answer(chat.stream(line)))
    return 0


def cmd_collections(args: argparse.Namespace) -> int:
    from retrievers.collection import Collection, list_collections

    settings = _settings(args)
    rows = []
    for name in list_collections(settings.store):
        coll = Collection(name, settings.store, chroma_url=settings.chroma_url)
        rows.append({"name": name, "passages": coll.count(), "sources": len(coll.signatures()), "model": coll.model})
        coll.close()
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no collections in {settings.store}; create one with `rag ingest PATH`")
    else:
        for row in rows:
            print(f"{row['name']}: {row['passages']} passages from {row['sources']} sources, model {row['model']}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from retrievers.collection import Collection

    from .sources import delete_source, list_sources

    settings = _settings(args)
    if not args.list_sources:
        _check_writable(settings, "delete")
    if args.list_sources:
        for info in list_sources(settings, args.name):
            print(f"{info.passages:>8}  {info.source}")
        return 0
    if args.source:
        for source in args.source:
            removed = delete_source(settings, args.name, source)
            print(f"deleted {source} from {args.name}: {removed} passages")
        return 0
    Collection(args.name, settings.store, chroma_url=settings.chroma_url).drop()
    print(f"deleted collection {args.name}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .training import TrainingInterrupted, run_training

    settings = _settings(args)
    try:
        result = run_training(settings, args, progress=args.progress and not args.json)
    except TrainingInterrupted as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result.record, indent=2))
        return 0
    print(result.summary)
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from .reader_training import run_reader_training

    settings = _settings(args)
    result = run_reader_training(settings, args, progress=args.progress and not args.json)
    print(json.dumps(result.record, indent=2) if args.json else result.summary)
    return 0


def cmd_package_model(args: argparse.Namespace) -> int:
    import subprocess

    from retrievers.shipped import package

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True).stdout.strip()
        commit = head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        commit = None
    target = package(args.model_dir, args.name, recipe=args.recipe, commit=commit)
    print(f"shipped {args.name} in {target} (trained at commit {commit or 'unknown'})")
    return 0


def cmd_generate_questions(args: argparse.Namespace) -> int:
    from prompts import load_prompt
    from prompts.templates import PromptError
    from retrievers.collection import Collection
    from retrievers.errors import RagError

    from .app import build_llm
    from .llamaindex import LlamaIndexLLM
    from .question_generation import generate_pairs
    from .retrieval import resolve_collection

    settings = _settings(args)
    llm = build_llm(settings)
    try:
        prompt = load_prompt("questions", directory=settings.prompts_dir)
    except PromptError as exc:
        raise RagError(str(exc)) from None
    coll = Collection(resolve_collection(settings, settings.collection), settings.store,
                      chroma_url=settings.chroma_url)
    if coll.count() == 0:
        coll.close()
        raise RagError(f"collection {coll.name!r} is empty: ingest documents first")
    show = args.progress and not args.json

    def progress(done: int, total: int) -> None:
        print(f"\rquestions: {done}/{total} passages", end="", file=sys.stderr, flush=True)

    try:
        report = generate_pairs(coll, LlamaIndexLLM(llm=llm), args.out, passages=args.passages,
                                per_passage=args.per_passage, prompt=prompt.text, seed=args.seed,
                                overwrite=args.overwrite, resume=args.resume, progress=progress if show else None)
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


def cmd_reindex(args: argparse.Namespace) -> int:
    from .ingestion import reindex

    settings = _settings(args)
    _check_writable(settings, "reindex")
    report = reindex(settings, args.source, args.encoder, into=args.into, progress=args.progress and not args.json)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.summary())
        print(f"search it with: rag search --collection {report.collection} QUESTION")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.datasets import load_dataset

    if bool(args.dataset) == bool(args.qa):
        print("error: give the questions with --dataset FORMAT:PATH (or --qa FILE for NQ-open jsonl)", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print("error: --limit takes a number of questions, 1 or more", file=sys.stderr)
        return 2
    settings = _settings(args)
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

    report = evaluate_retrieval(settings, dataset, settings.collection, encoders=args.encoders or [None],
                                modes=args.modes.split(","), ks=ks,
                                max_answer_passages=args.max_answer_passages or None,
                                limit=args.limit, distractors=args.distractors, progress=progress)
    if args.report:
        write_retrieval_report(report, args.report, command=_command_line(args))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    if args.report and not args.json:
        print(f"report: {Path(args.report) / 'report.md'}", file=sys.stderr)
    return 0


def _command_line(args: argparse.Namespace) -> str:
    import shlex

    return "rag " + shlex.join(args.argv)


def _eval_answers(args: argparse.Namespace, settings: Any, dataset: Any, progress: bool) -> int:
    from eval.answers import Judge, evaluate_answers
    from eval.corpus import dataset_collection
    from eval.report import write_answer_report

    from .app import build_engine, build_llm

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

        judge = Judge(build_llm(settings.model_copy(update={"model": args.judge})),
                      load_prompt("judge", directory=settings.prompts_dir))
    results = None
    if args.report:
        Path(args.report).expanduser().mkdir(parents=True, exist_ok=True)
        results = Path(args.report).expanduser() / "results.jsonl"
    report = evaluate_answers(dataset, engine, limit=args.limit, results_path=results, judge=judge,
                              collection=engine.retriever.collection.name, progress=progress)
    if args.report:
        write_answer_report(report, args.report, command=_command_line(args))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.server import check_exposure, serve

    settings = _settings(args)
    check_exposure(settings)
    print(f"serving on http://{settings.host}:{settings.port} (API docs at /docs)", file=sys.stderr)
    serve(settings)
    return 0


def cmd_loadtest(args: argparse.Namespace) -> int:
    from eval.load import DEFAULT_QUESTIONS, load_test
    from retrievers.errors import RagError

    if args.requests < 1 or args.concurrency < 1:
        raise RagError("--requests and --concurrency must be at least 1")
    questions: Sequence[str] = DEFAULT_QUESTIONS
    if args.qa:
        from eval.datasets import load_dataset

        questions = [q.question for q in load_dataset(f"nq-open:{args.qa}").questions] or DEFAULT_QUESTIONS
    settings = _settings(args)
    token = args.api_token or settings.api_token
    if args.hostile is not None:
        return _hostile_loadtest(args, settings, questions, token)
    extra = {"max_tokens": args.load_max_tokens} if args.load_max_tokens else None
    report = load_test(args.url, endpoint=args.endpoint, requests=args.requests, concurrency=args.concurrency,
                       questions=questions, collection=args.collection, token=token, timeout=args.timeout,
                       deadline=args.deadline, extra=extra)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0 if report.failures == 0 else 1


def _hostile_loadtest(args: argparse.Namespace, settings: Any, questions: Sequence[str], token: str | None) -> int:
    from eval.hostile import hostile_load_test, server_pid
    from retrievers.errors import RagError

    if args.hostile < 0:
        raise RagError("--hostile takes a number of attacks (0 = none)")
    pid = args.pid if args.pid is not None else server_pid(settings.store, args.url)
    report = hostile_load_test(args.url, endpoint=args.endpoint, requests=args.requests,
                               concurrency=args.concurrency, hostile=args.hostile, questions=questions,
                               collection=args.collection, token=token, pid=pid, attacker=args.attacker_address,
                               max_tokens=args.load_max_tokens, timeout=args.timeout, deadline=args.deadline,
                               max_rss_growth_mb=args.max_rss_growth, max_p95_ratio=args.max_p95_ratio)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0 if report.passed else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from eval.bench import LARGE_SIZE, QUICK_SIZES, BenchOptions, run_bench
    from retrievers.encoders import BACKENDS, native_bf16
    from retrievers.errors import RagError

    settings = _settings(args)
    if args.backends is None:
        args.backends = "torch,torch-bf16,torch-bf16:2,onnx-int8" if native_bf16() else "torch,onnx-int8:2,onnx-int8"
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise RagError(f"--sizes takes whole numbers separated by commas, not {args.sizes!r}") from None
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b.partition(":")[0] not in BACKENDS or not (b.partition(":")[2] or "1").isdigit()
               or int(b.partition(":")[2] or "1") < 1]
    if unknown or not backends:
        raise RagError(f"unknown backend {', '.join(unknown) or '(none)'}: choose from {', '.join(BACKENDS)}, each "
                       "optionally with :WORKERS (torch-bf16:2 = two encoder processes)")
    if args.quick:
        sizes = list(QUICK_SIZES)
    if args.large:
        sizes.append(LARGE_SIZE)
    if not sizes or min(sizes) < 10:
        raise RagError("--sizes must each be at least 10 passages")
    if args.qa and not Path(args.qa).is_file():
        raise RagError(f"--qa {args.qa}: no such file")
    options = BenchOptions(sizes=sorted(set(sizes)), backends=backends,
                           queries=args.queries or (20 if args.quick else 200),
                           answers=args.answers if args.answers is not None else (1 if args.quick else 5),
                           qa=args.qa, baseline=args.baseline, work_dir=args.work_dir)
    report = run_bench(settings, options, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    if args.out:  # written whole or not at all
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        partial.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        partial.replace(out)
    return 0


def _keys_parser(sub: Any) -> None:
    """The `keys` command group: add, list and revoke API keys (rag/access.py)."""
    p = sub.add_parser("keys", help="manage API keys per user: add, list, revoke",
                       description="API keys with scopes (read, ingest, admin; admin implies the others), for every "
                                   "collection or some. Only a hash of each key is kept, in STORE/access.sqlite3; "
                                   "adding and revoking are recorded in the audit log.")
    keys_sub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    store_help = "store directory (env RAG_STORE; default ~/.local/share/rag)"
    p = keys_sub.add_parser("add", help="add a key and print its token (shown once)")
    p.add_argument("name", help="whose key it is")
    p.add_argument("--scope", dest="scopes", action="append", default=[], metavar="SCOPE",
                   help="read, ingest or admin; repeat it or separate with commas (at least one)")
    p.add_argument("--collection", "-c", dest="collections", action="append", metavar="NAME",
                   help="a collection the key may use; repeat it for more (default: every collection)")
    p.add_argument("--store", help=store_help)
    p = keys_sub.add_parser("list", help="list keys (never their secrets)")
    p.add_argument("--store", help=store_help)
    p.add_argument("--json", action="store_true")
    p = keys_sub.add_parser("revoke", help="revoke a key: its token stops working at once")
    p.add_argument("key_id", metavar="KEY_ID")
    p.add_argument("--store", help=store_help)


def cmd_keys(args: argparse.Namespace) -> int:
    import getpass

    from .access import KeyStore, iso_utc

    settings = _settings(args)
    try:
        actor = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        actor = f"cli:uid-{os.getuid()}"
    with KeyStore(settings.store) as keys:
        if args.keys_command == "add":
            key_id, token = keys.add(args.name, args.scopes, args.collections or "*", actor=actor)
            info = keys.get(key_id)
            limits = ", ".join(info.collections) if info.collections != "*" else "every collection"
            print(f"added key {key_id} for {info.name}: {', '.join(info.scopes)} on {limits}", file=sys.stderr)
            print(token)
            print("this token is not shown again: keep it now (only its hash is stored)", file=sys.stderr)
        elif args.keys_command == "revoke":
            before = keys.get(args.key_id)
            info = keys.revoke(args.key_id, actor=actor)
            done = "was already revoked" if before is not None and before.revoked is not None else "revoked"
            print(f"key {info.id} ({info.name}) {done} at {iso_utc(info.revoked)}")
        elif args.json:
            print(json.dumps([k.to_dict() for k in keys.list()], indent=2, ensure_ascii=False))
        else:
            rows = [{**k.to_dict(), "scopes": ",".join(k.scopes),
                     "collections": k.collections if k.collections == "*" else ",".join(k.collections)}
                    for k in keys.list()]
            if not rows:
                print(f"no API keys in {settings.store}; add one with `rag keys add NAME --scope read`")
                return 0
            head = {"id": "id", "name": "name", "scopes": "scopes", "collections": "collections",
                    "created": "created", "revoked": "revoked", "last_used": "last used"}
            widths = {c: max(len(str(r[c] or "-")) for r in [head, *rows]) for c in head}
            for r in [head, *rows]:
                print("  ".join(str(r[c] or "-").ljust(widths[c]) for c in head).rstrip())
    return 0


COMMANDS = {"bench": cmd_bench, "loadtest": cmd_loadtest, "ingest": cmd_ingest, "encode": cmd_encode, "generate-questions": cmd_generate_questions, "train": cmd_train,
            "train-reader": cmd_train_reader, "package-model": cmd_package_model,
            "reindex": cmd_reindex, "eval": cmd_eval, "search": cmd_search, "ask": cmd_ask, "chat": cmd_chat,
            "serve": cmd_serve, "collections": cmd_collections, "delete": cmd_delete}
COMMANDS["keys"] = cmd_keys


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not args.command:
        parser.print_help()
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from pydantic import ValidationError

    from retrievers.errors import RagError

    try:
        return COMMANDS[args.command](args)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'setting'}: {e['msg']}" for e in exc.errors())
        print(f"error: invalid setting: {problems}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the store is consistent and the next run completes the work", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
