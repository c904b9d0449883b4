"""The project's own trained models, shipped inside the package as small LoRA deltas on all-MiniLM-L6-v2.

Each lives in `retrievers/models/NAME/` with a `record.json` (recipe, data, validation figures, the
commit that trained it, and the sha256 of every file). On first use the files are checked against
the record, the delta is merged onto the base model, and the full model is written once to the
cache (`~/.cache/rag/models/NAME-<record hash>`), where every backend loads it like any other model
directory. `make models` retrains them all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

from .errors import ModelNotFound

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).parent / "models"
RECORD_FILE = "record.json"
COMPLETE = ".complete"
# name -> kind; "encoder" merges into a sentence-transformers model, "reader" into a reader directory.
SHIPPED = {"dpr-nq": "encoder", "reader-nq": "reader"}
_lock = threading.Lock()


def default_models_cache() -> Path:
    return Path.home() / ".cache" / "rag" / "models"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _damaged(name: str, why: str) -> ModelNotFound:
    return ModelNotFound(f"shipped model {name!r} is missing or damaged ({why}); rebuild it with `make models`")


def shipped_record(name: str) -> dict:
    """The record of shipped model `name`, after checking every file it lists against its sha256."""
    source = MODELS_DIR / name
    try:
        record = json.loads((source / RECORD_FILE).read_text(encoding="utf-8"))
        files = dict(record["files"])
    except (OSError, ValueError, KeyError, TypeError):
        raise _damaged(name, f"no readable {RECORD_FILE}") from None
    for file, expected in files.items():
        path = source / file
        if Path(file).name != file or not path.is_file():
            raise _damaged(name, f"{file} is missing")
        if _sha256(path) != expected:
            raise _damaged(name, f"{file} does not match its sha256")
    return record


def record_hash(name: str) -> str:
    """A short identity of a shipped model: the hash of its record (which lists every file's hash)."""
    return _sha256(MODELS_DIR / name / RECORD_FILE)[:16]


def shipped_path(name: str, cache: Path | None = None) -> Path:
    """The merged model directory of shipped model `name`, building it in the cache on first use."""
    if name not in SHIPPED:
        raise ModelNotFound(f"no shipped model {name!r}; shipped: {', '.join(SHIPPED)}")
    record = shipped_record(name)
    target = (cache or default_models_cache()) / f"{name}-{record_hash(name)}"
    if (target / COMPLETE).is_file():
        return target
    with _lock:
        if (target / COMPLETE).is_file():
            return target
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            _BUILDERS[SHIPPED[name]](MODELS_DIR / name, staging, record)
            (staging / COMPLETE).write_text(name, encoding="utf-8")
            try:
                os.replace(staging, target)
            except OSError:  # another process finished first: use its copy
                if not (target / COMPLETE).is_file():
                    raise
                logger.info("shipped model %s was built by another process", name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _build_encoder(source: Path, out: Path, record: dict) -> None:
    from sentence_transformers import SentenceTransformer

    from .encoders import resolve_model_path
    from .lora import load_delta, merge_lora

    state, spec = load_delta(source)
    model = SentenceTransformer(str(resolve_model_path(record["base_model"])), device="cpu", local_files_only=True)
    merge_lora(model[0].auto_model, state, spec)
    if record.get("max_seq_length"):
        model.max_seq_length = int(record["max_seq_length"])
    model.save(str(out))


def _build_reader(source: Path, out: Path, record: dict) -> None:
    import torch

    from .lora import load_delta, merge_lora
    from .reader import HEADS_FILE, READER_FILE, Reader

    state, spec = load_delta(source)
    reader = Reader(record["base_model"])
    merge_lora(reader.encoder, state, spec)
    heads = torch.load(source / HEADS_FILE, map_location="cpu", weights_only=True)
    reader.span_head.load_state_dict(heads["span"])
    reader.select_head.load_state_dict(heads["select"])
    saved = json.loads((source / READER_FILE).read_text(encoding="utf-8"))
    reader.max_length = int(saved.get("max_length", reader.max_length))
    reader.max_answer_tokens = int(saved.get("max_answer_tokens", reader.max_answer_tokens))
    reader.passage_choice = saved.get("passage_choice", reader.passage_choice)
    reader.save(out, {k: v for k, v in saved.items() if k not in ("format", "max_length", "max_answer_tokens",
                                                                    "passage_choice")})


_BUILDERS = {"encoder": _build_encoder, "reader": _build_reader}


def package(model_dir: str | Path, name: str, *, recipe: str, commit: str | None,
            out_root: Path = MODELS_DIR) -> Path:
    """Copy the LoRA delta of a model trained with `--lora-rank` (by `rag train` or `rag train-reader`)
    into the package as shipped model `name`, with a record of how it was made and every file's sha256."""
    from .lora import ADAPTER_CONFIG, ADAPTER_FILE
    from .reader import HEADS_FILE, READER_FILE, read_reader_record
    from .training import read_training_record

    if name not in SHIPPED:
        raise ModelNotFound(f"no shipped model {name!r}; shipped: {', '.join(SHIPPED)}")
    source = Path(model_dir)
    kind = SHIPPED[name]
    trained = read_training_record(source) if kind == "encoder" else (read_reader_record(source) or {}).get("training")
    if not trained or "lora" not in trained or not (source / ADAPTER_FILE).is_file():
        raise ModelNotFound(f"{source} holds no {kind} trained with --lora-rank: train one first (see `make models`)")
    files = [ADAPTER_FILE, ADAPTER_CONFIG] + ([HEADS_FILE, READER_FILE] if kind == "reader" else [])
    target = out_root / name
    staging = out_root / f".{name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for file in files:
        shutil.copyfile(source / file, staging / file)
    record = {
        "name": name, "kind": kind, "base_model": trained["base_model"],
        "max_seq_length": (trained.get("config") or {}).get("max_seq_length") if kind == "encoder" else None,
        "recipe": recipe, "commit": commit, "lora": trained["lora"],
        "data": trained.get("data"), "validation": trained.get("validation"),
        "created": trained.get("created"), "seconds": trained.get("seconds"),
        "files": {file: _sha256(staging / file) for file in files},
    }
    (staging / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target
