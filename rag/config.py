"""All settings in one place. Each comes from, in rising priority: its default, a TOML config file
(`~/.config/rag/config.toml`, or only the file `RAG_CONFIG` names), a `RAG_*` environment variable,
and a CLI flag.

No file is read from the working directory: a `rag.toml` planted in a folder the server is started
from could otherwise redirect `api_base`, `chroma_url` or `langfuse_host`. The file that is read is
named in a log line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag.formats import ReadLimits
from retrievers.encoders import DEFAULT_BACKEND, DEFAULT_MODEL, FINETUNED_MODEL, resolve_backend
from retrievers.encoders.onnx import default_cache_dir
from retrievers.errors import RagError
from retrievers.fusion import DEFAULT_LINEAR_WEIGHT, DEFAULT_RRF_DENSE_WEIGHT, DEFAULT_SCALED_WEIGHT
from retrievers.passages import DEFAULT_PASSAGE_WORDS
from retrievers.stores import default_store_dir

logger = logging.getLogger(__name__)

# The top retrieved passage's fused score (hybrid linear fusion of z-scored runs, lambda 4) below which the default
# answer path abstains: on nq-vital validation, with the shipped dpr-nq, it refuses half the questions whose
# passages hold no answer for 1.2 points of F1 on the others (the highest threshold losing at most 2 points in
# each half); the reader's own scores separate them worse (docs/experiments/abstention).
ABSTAIN_SCORE = 8.9
# Sentences per passage in the embedded model's prompt: its whole answers come 30% sooner (prompt 554 -> 349 tokens)
# with the same answers contained on nq-vital and the SQuAD-style check (docs/performance.md, "Answer path").
EMBEDDED_PROMPT_SENTENCES = 2


def config_files() -> list[Path]:
    """The TOML file settings are read from: the one `RAG_CONFIG` names, else the user's own, if it exists."""
    named = os.environ.get("RAG_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise RagError(f"RAG_CONFIG names {path}, which is not a file")
    else:
        path = Path.home() / ".config" / "rag" / "config.toml"
        if not path.is_file():
            return []
    logger.info("settings: reading %s", path)
    return [path]


class Settings(BaseSettings):
    """Typed configuration, passed down explicitly; nothing else reads the environment."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore", populate_by_name=True)

    store: Path = Field(default_factory=default_store_dir, description="store directory (collections live here)")
    chroma_url: Optional[str] = Field(None, description="Chroma server URL; unset = embedded Chroma in the store")
    collection: Optional[str] = Field(None, description="collection name")
    encoder: str = Field(
        DEFAULT_MODEL,
        description="encoder of a new collection of your documents: a shipped model "
        "name or a local model directory (a collection keeps the one it was built with)",
    )
    builtin_encoder: str = Field(
        FINETUNED_MODEL,
        description="encoder of a new collection of the built-in corpus: "
        "the shipped DPR encoder fine-tuned on NQ questions over it",
    )
    device: Optional[str] = Field(None, description="torch device for the encoder, e.g. cpu or cuda")
    batch_size: int = Field(32, ge=1, description="encoder batch size")
    backend: Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"] = Field(
        DEFAULT_BACKEND,
        description="encoder runtime: auto = onnx-int8 on the CPU, torch on a GPU; torch = sentence-transformers "
        "fp32 (bit for bit what training evaluates); torch-bf16 = bfloat16 weights (for GPUs, and ingest on CPUs "
        "with AMX); onnx = ONNX Runtime fp32; onnx-int8 = ONNX Runtime with int8 weights (fastest on CPUs; ONNX "
        "models are exported locally on first use and cached)",
    )
    cache_dir: Path = Field(default_factory=default_cache_dir, description="cache for exported ONNX models")
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="processes that encode passages at ingest (each gets the cores "
        "shared out); 2 on 2 cores encodes 1.45x as fast as 1 with torch-bf16",
    )
    ingest_batch: int = Field(
        10000,
        ge=1,
        description="new passages read before they are written; bounds an "
        "ingest's memory (one file's passages are always written together)",
    )
    passage_words: int = Field(DEFAULT_PASSAGE_WORDS, ge=0, description="passage length in words (0 = no split)")
    split_records: bool = Field(False, description="also split JSON/JSONL records and the built-in corpus")
    ocr_max_pages: int = Field(
        50,
        ge=0,
        description="scanned pages (PDF pages without text, image frames) read by "
        "OCR in one file; the rest are skipped with a warning (0 = no OCR)",
    )
    ocr_page_seconds: float = Field(
        30.0, gt=0, description="seconds OCR may take for one page; a slower page is skipped with a warning"
    )
    mode: Literal["dense", "bm25", "hybrid"] = Field("hybrid", description="retriever")
    top_k: int = Field(20, ge=1, description="passages to return")
    fusion: Literal["rrf", "linear", "rsf", "dbsf"] = Field(
        "linear",
        description="hybrid fusion: DPR's linear BM25 + lambda * sim over z-scored runs (never below dense "
        "alone at any k on nq-vital validation), reciprocal rank, relative score (min-max) or distribution-based "
        "(mean +- 3 sd); a collection tuned by `rag tune` uses its own unless this is set",
    )
    candidates: int = Field(100, ge=1, description="passages each retriever contributes to fusion")
    rrf_k: int = Field(60, ge=1)
    dense_weight: Optional[float] = Field(
        None,
        ge=0,
        description=f"lambda of linear fusion ({DEFAULT_LINEAR_WEIGHT:g}), "
        f"the dense run's weight in RRF ({DEFAULT_RRF_DENSE_WEIGHT:g}) or in rsf "
        f"and dbsf ({DEFAULT_SCALED_WEIGHT:g}); a collection tuned by `rag tune` "
        "uses its own unless this is set",
    )
    normalization: Literal["zscore", "minmax", "none"] = "zscore"
    reranker: Optional[str] = Field(
        None,
        description="second stage over the first rerank_candidates passages: "
        "reader, llm, llm:MODEL, a CrossEncoder directory, or none (the default: none "
        "measured better than the first stage, docs/reranking.md)",
    )
    rerank_candidates: int = Field(50, ge=1, description="first-stage passages the reranker scores")

    # answers
    model: Optional[str] = Field(None, description="LLM: a litellm model string; unset = the embedded local/smollm2")
    api_base: Optional[str] = Field(None, description="base URL for the LLM (an Ollama or vLLM server, say)")
    context_k: int = Field(3, ge=1, description="passages the LLM reads (3 suits the tiny local model)")
    question_max_chars: int = Field(
        4000,
        ge=1,
        description="longest question or retrieval query, in characters "
        "(the encoder reads about 1,000; a longer one costs memory, not recall)",
    )
    max_tokens: int = Field(256, ge=1, description="longest answer, in tokens")
    temperature: float = Field(0.0, ge=0.0)
    llm_timeout: float = Field(60.0, gt=0)
    llm_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="further attempts after a timeout, lost connection, rate "
        "limit or server error (waits 0.5 s, 1 s, ...)",
    )
    prompts_dir: Optional[Path] = Field(None, description="directory of prompt overrides (NAME.txt)")
    prompt_sentences: Optional[int] = Field(
        None,
        ge=0,
        description="cut each passage in the LLM's prompt to its N sentences sharing most words with the question, "
        "plus the one holding the reader's span (shown and cited passages stay whole); 0 = whole passages; "
        f"unset = {EMBEDDED_PROMPT_SENTENCES} for the embedded model, whole passages for others",
    )
    reader: Optional[str] = Field(
        "reader-nq",
        description="reader for short answers: the shipped reader-nq, a "
        "directory from `rag train-reader`, or none (--no-reader, RAG_READER=none)",
    )
    reader_k: int = Field(10, ge=1, description="retrieved passages the reader reads")
    reader_hint: Optional[bool] = Field(
        None,
        description="tell the LLM the reader's span as a hint (prompt `hint`); "
        "unset = when the answer does not lead with the span (other models than "
        "the embedded one)",
    )
    answer_lead: Optional[bool] = Field(
        None,
        description="start the answer with the reader's span in its sentence "
        "(how/why questions: the best passage sentences), the LLM's prose after it "
        "only when it agrees; unset = for the embedded model",
    )
    abstain_score: Optional[float] = Field(
        None,
        description='answer "the documents don\'t say" (listing the '
        "closest passages) when the best retrieved passage scores below this, "
        f"on the retriever's scale; unset = {ABSTAIN_SCORE} on the default "
        "answer path (the reader's span leads, hybrid linear fusion), chosen on "
        "validation "
        "questions (docs/answers.md), else never; none = never",
    )
    reader_check: bool = Field(
        True,
        description="the local LLM rescores the reader's best spans (prompt `check`; "
        "the embedded model when the answering LLM is remote)",
    )
    reader_check_k: int = Field(5, ge=2, le=50, description="spans of the reader's passage the check compares")
    reader_check_weight: float = Field(
        2.0,
        ge=0.0,
        description="weight of the check's log-probability against the "
        "reader's (chosen on held-out questions: docs/experiments/reader-prior)",
    )
    # serving (rag serve): the UI and the OpenAI-compatible API
    host: str = Field("127.0.0.1", description="address to listen on; anything but loopback needs api_token")
    port: int = Field(7860, ge=1, le=65535, description="port to listen on")
    api_token: Optional[str] = Field(None, repr=False, description="bearer token for the API (and the UI login)")
    upload_max_mb: float = Field(20.0, gt=0, description="largest uploaded file, in MiB")
    upload_max_files: int = Field(20, ge=1, description="most files in one upload")
    upload_max_passages: int = Field(
        50_000,
        ge=1,
        description="most passages one upload may add (a file past it "
        "is refused whole, and stops being read there): a 20 MB text makes about "
        "35,000; each passage costs encoding time",
    )
    request_max_kb: int = Field(1024, ge=1, description="largest request body of the JSON routes, in KiB")
    request_body_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="seconds a JSON request body may take to "
        "arrive; a slower client is dropped with 408 (it holds a connection)",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="host names the server answers for besides loopback ones (comma-separated)"
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="browser origins besides the server's own that may send writes, "
        "e.g. https://chat.example.org (comma-separated)",
    )
    allowed_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="LLMs a request or the UI may choose besides the configured one "
        "(comma-separated litellm model strings); nothing else, and never a file path, can be chosen",
    )
    engine_cache: int = Field(
        8,
        ge=1,
        le=256,
        description="answer engines (collection and retrieval settings) "
        "kept loaded; the least recently used is dropped past this",
    )

    langfuse_public_key: Optional[str] = Field(
        None, validation_alias=AliasChoices("RAG_LANGFUSE_PUBLIC_KEY", "LANGFUSE_PUBLIC_KEY"), repr=False
    )
    langfuse_secret_key: Optional[str] = Field(
        None, validation_alias=AliasChoices("RAG_LANGFUSE_SECRET_KEY", "LANGFUSE_SECRET_KEY"), repr=False
    )
    langfuse_host: Optional[str] = Field(
        None, validation_alias=AliasChoices("RAG_LANGFUSE_HOST", "LANGFUSE_HOST", "LANGFUSE_BASE_URL")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_files())

    @field_validator("allowed_hosts", "allowed_origins", "allowed_models", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def llm_choices(self) -> list[str]:
        """The LLMs a request may pick: the configured one first, then the allowed ones."""
        from rag.llm import DEFAULT_LLM

        return list(dict.fromkeys([self.model or DEFAULT_LLM, *self.allowed_models]))

    @field_validator("reader", "abstain_score", mode="before")
    @classmethod
    def _none(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "off") else value

    def embedded(self) -> bool:
        """Whether answers come from the embedded local model (the default) rather than a litellm provider's."""
        return self.model is None or self.model.startswith("local/")

    def leads(self) -> bool:
        """Whether answers lead with the passages' words: as set, else for the embedded model."""
        if self.answer_lead is not None:
            return self.answer_lead
        return self.embedded()

    def abstention_threshold(self) -> float | None:
        """The retrieval score below which answers abstain: as set, else the one chosen for the default answer
        path (the reader's span leading, the default hybrid fusion), whose scale it was measured on."""
        if "abstain_score" in self.model_fields_set:
            return self.abstain_score
        fused_as_measured = (
            self.mode == "hybrid"
            and self.fusion == "linear"
            and self.normalization == "zscore"
            and self.dense_weight in (None, DEFAULT_LINEAR_WEIGHT)
        )
        return ABSTAIN_SCORE if self.reader and self.leads() and fused_as_measured else None

    def trims(self) -> int:
        """Sentences kept per passage in the LLM's prompt (0 = whole): as set, else `EMBEDDED_PROMPT_SENTENCES`
        for the embedded model, which reads its prompt at about 200 tokens/s on 2 cores."""
        if self.prompt_sentences is not None:
            return self.prompt_sentences
        return EMBEDDED_PROMPT_SENTENCES if self.embedded() else 0

    def hints(self) -> bool:
        """Whether the LLM gets the reader's span as a hint: as set, else when the answer does not lead with it."""
        if self.reader_hint is not None:
            return self.reader_hint
        return self.reader is not None and not self.leads()

    @field_validator("store", "cache_dir", mode="before")
    @classmethod
    def _expand(cls, value: object) -> object:
        return Path(value).expanduser() if isinstance(value, (str, Path)) else value

    def encoder_for(self, collection_model: str | None, *, builtin: bool = False) -> str:
        """The encoder to use: an explicitly set one wins, else the one the collection was built with, else
        the default for what it holds (the built-in corpus, or your documents)."""
        if "encoder" in self.model_fields_set:
            return self.encoder
        if collection_model is not None:
            return collection_model
        return self.builtin_encoder if builtin else self.encoder

    def read_limits(self, max_units: int | None = None) -> ReadLimits:
        """What a file's reader may take: `max_units` records or table pieces, and the OCR settings."""
        return ReadLimits(max_units=max_units, ocr_pages=self.ocr_max_pages, ocr_page_seconds=self.ocr_page_seconds)

    def passage_encoder_options(self) -> dict:
        """`encoder_options` plus the worker processes: for ingesting, where passages are encoded in bulk."""
        return {**self.encoder_options(), "workers": self.workers}

    def encoder_backend(self) -> str:
        """The backend encoders run on ("auto" resolved for this device; `load_encoder` may still fall back to
        torch for a model ONNX Runtime cannot run)."""
        return resolve_backend(self.backend, self.device)

    def encoder_options(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "device": self.device,
            "backend": self.backend,
            "cache_dir": self.cache_dir,
        }
