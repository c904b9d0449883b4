"""The project's own trained models, shipped inside the package as small LoRA deltas on all-MiniLM-L6-v2.

Each lives in `retrievers/models/NAME/` with a `record.json` (recipe, data, validation figures, the
commit that trained it, and the sha256 of every file). On first use the files are checked against
the record, the delta is merged onto the base model, and the full model is written once to the
cache (`~/.cache/rag/models/NAME-<record hash>`), where every backend loads it like any other model
directory. `make models` retrains them all.

Encoders are built here; a kind of model this layer does not know (the reader) registers its builder
with `register_builder` from its own module, which the `retrievers` package always imports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ModelNotFound
from .lora import ADAPTER_CONFIG, ADAPTER_FILE, concatenate, load_delta, merge_lora, save_delta

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).parent.parent / "models"
RECORD_FILE = "record.json"
COMPLETE = ".complete"
# name -> kind; "encoder" merges into a sentence-transformers model, "reader" into a reader directory.
SHIPPED = {"dpr-nq": "encoder", "reader-nq": "reader"}
_lock = threading.Lock()
# (the delta's folder, the folder to write, its record, the base model's folder) -> None
Builder = Callable[[Path, Path, dict, Path], None]


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


def shipped_path(name: str, resolve: Callable[[str], Path], cache: Path | None = None) -> Path:
    """The merged model directory of shipped model `name`, building it in the cache on first use
    (`resolve` turns the record's base model into its directory)."""
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
            _builder(name)(MODELS_DIR / name, staging, record, resolve(record["base_model"]))
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


def _build_encoder(source: Path, out: Path, record: dict, base: Path) -> None:
    from sentence_transformers import SentenceTransformer

    state, spec = load_delta(source)
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    merge_lora(model[0].auto_model, state, spec)
    if record.get("max_seq_length"):
        model.max_seq_length = int(record["max_seq_length"])
    model.save(str(out))


_BUILDERS: dict[str, Builder] = {"encoder": _build_encoder}


def register_builder(kind: str, build: Builder) -> None:
    """Say how shipped models of `kind` are merged (the reader's module registers the reader's)."""
    _BUILDERS[kind] = build


def _builder(name: str) -> Builder:
    kind = SHIPPED[name]
    if kind not in _BUILDERS:  # not reached: importing `retrievers` registers every kind
        raise ModelNotFound(f"shipped model {name!r} is a {kind}, and no {kind} builder is registered")
    return _BUILDERS[kind]


def package(
    model_dir: str | Path | Sequence[str | Path],
    name: str,
    *,
    trained: dict | Sequence[dict] | None,
    files: Sequence[str] = (),
    recipe: str,
    commit: str | None,
    out_root: Path = MODELS_DIR,
) -> Path:
    """Copy the LoRA delta of a model trained with `--lora-rank` (by `rag train` or `rag train-reader`)
    into the package as shipped model `name`, with the other `files` it needs (a reader's heads), and a
    record of how it was made (`trained`: its training record) and every file's sha256.

    Several encoder directories (with their records, in the same order) ship as one uniform model soup: the
    mean of their deltas, exactly, as one delta of their summed rank (`lora.concatenate`)."""
    if name not in SHIPPED:
        raise ModelNotFound(f"no shipped model {name!r}; shipped: {', '.join(SHIPPED)}")
    sources = [Path(model_dir)] if isinstance(model_dir, (str, Path)) else [Path(d) for d in model_dir]
    records = [trained] if trained is None or isinstance(trained, dict) else list(trained)
    kind, soup = SHIPPED[name], len(sources) > 1
    for source, record in zip(sources, records, strict=True):
        if not record or "lora" not in record or not (source / ADAPTER_FILE).is_file():
            raise ModelNotFound(
                f"{source} holds no {kind} trained with --lora-rank: train one first (see `make models`)"
            )
    if soup and (kind != "encoder" or len({json.dumps(r["lora"], sort_keys=True) for r in records}) > 1):
        raise ModelNotFound("only encoders with the same LoRA settings ship as one soup (a reader: --seeds N)")
    target = out_root / name
    staging = out_root / f".{name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    first = records[0]
    if soup:
        deltas = [load_delta(source) for source in sources]
        state, spec = concatenate([d for d, _ in deltas], deltas[0][1])
        save_delta(staging, state, spec)
        lora = spec.to_dict()
    else:
        for file in (ADAPTER_FILE, ADAPTER_CONFIG):
            shutil.copyfile(sources[0] / file, staging / file)
        lora = first["lora"]
    for file in files:
        shutil.copyfile(sources[0] / file, staging / file)
    files = [ADAPTER_FILE, ADAPTER_CONFIG, *files]
    record = {
        "name": name,
        "kind": kind,
        "base_model": first["base_model"],
        "max_seq_length": (first.get("config") or {}).get("max_seq_length") if kind == "encoder" else None,
        "recipe": recipe,
        "commit": commit,
        "lora": lora,
        "data": first.get("data"),
        "validation": first.get("validation"),
        "created": first.get("created"),
        "seconds": sum(r.get("seconds") or 0 for r in records) if soup else first.get("seconds"),
        **({"soup": [_member(s, r) for s, r in zip(sources, records)]} if soup else {}),
        "files": {file: _sha256(staging / file) for file in files},
    }
    (staging / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def _member(source: Path, record: dict) -> dict:
    """What a soup's record keeps of each member: where it was, its settings and its own validation figures."""
    return {
        "dir": str(source),
        "config": record.get("config"),
        "lora": record.get("lora"),
        "validation": record.get("validation"),
        "seconds": record.get("seconds"),
    }
