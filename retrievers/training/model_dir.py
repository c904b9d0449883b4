"""A trained encoder's directory: refusing to clobber one, finding the checkpoint to resume, and saving the
model with its record (`rag_training.json`, written last: its presence marks a finished run)."""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from ..encoders.lora import LoraSpec, save_delta
from ..errors import RagError

TRAINING_FILE = "rag_training.json"
CHECKPOINTS = "checkpoints"
STATE_FILE = "run.json"  # inside CHECKPOINTS: the configuration of a run in progress


def check_out_dir(out_dir: Path, config: Any, *, overwrite: bool, resume: bool) -> str | None:
    """Refuse to clobber a directory; returns the checkpoint to resume from, if any."""
    if resume:
        if config.lora_rank:
            raise RagError("--resume is not supported with --lora-rank (its checkpoints hold no adapter); start over")
        state = out_dir / CHECKPOINTS / STATE_FILE
        if not state.is_file():
            raise RagError(f"{out_dir} holds no interrupted training run to resume")
        saved = json.loads(state.read_text(encoding="utf-8")).get("config", {})
        differs = sorted(k for k, v in config.comparable().items() if saved.get(k) != v)
        if differs:
            raise RagError(
                f"cannot resume {out_dir}: it was started with different settings ({', '.join(differs)}); "
                "use the same options, or --overwrite to start over"
            )
        checkpoints = sorted((out_dir / CHECKPOINTS).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        return str(checkpoints[-1]) if checkpoints else None
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            hint = (
                " It holds an interrupted run: add --resume to continue it."
                if (out_dir / CHECKPOINTS / STATE_FILE).is_file()
                else ""
            )
            raise RagError(
                f"output directory {out_dir} exists and is not empty; choose another --out or add "
                f"--overwrite to replace it.{hint}"
            )
        if (
            (out_dir / "modules.json").is_file()
            or (out_dir / CHECKPOINTS).is_dir()
            or (out_dir / TRAINING_FILE).is_file()
        ):
            shutil.rmtree(out_dir)
        else:
            raise RagError(
                f"refusing to overwrite {out_dir}: it does not look like a model directory written by rag train"
            )
    return None


def save_model(
    model: Any, out_dir: Path, record: dict, *, delta: dict | None = None, spec: LoraSpec | None = None
) -> None:
    """Save the model beside its checkpoints, then the record last: its presence marks a finished run."""
    staging = out_dir / ".model.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save(str(staging))
    if delta is not None and spec is not None:
        save_delta(staging, delta, spec)
    for item in staging.iterdir():
        target = out_dir / item.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(item, target)
    staging.rmdir()
    shutil.rmtree(out_dir / CHECKPOINTS, ignore_errors=True)
    tmp = out_dir / (TRAINING_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(tmp, out_dir / TRAINING_FILE)


def read_training_record(model_dir: str | Path) -> dict | None:
    """The `rag_training.json` of a model trained here, or None for any other model."""
    path = Path(model_dir) / TRAINING_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "sentence-transformers"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out
