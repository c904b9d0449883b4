"""`rag encode`: one shard of a collection's passage vectors, as a batch job that needs no store.

Reads the inputs exactly as `rag ingest` does (same loaders, same passages, same ids), keeps the
passages of shard I of N, encodes them and writes the shard folder. N such jobs can run on N
machines or GPUs at once; `rag ingest ... --vectors DIR` then builds the collection from the
shards, encoding only what they lack (see `retrievers/encoders/precomputed.py`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from rag.config import Settings
from retrievers.encoders import model_fingerprint, model_name, opened_encoder
from retrievers.encoders.precomputed import encode_shard, read_header, shard_dir, shard_of

from .loaders import LoadError, discover, load
from .pipeline import passages_of, too_big_to_read

logger = logging.getLogger(__name__)


@dataclass
class EncodeReport:
    shard: int
    num_shards: int
    path: str
    passages: int = 0  # in all the inputs
    in_shard: int = 0  # of them, in this shard
    encoded: int = 0  # distinct texts encoded and written
    skipped: bool = False  # the shard was already finished with this model
    seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.skipped or self.encoded > 0 or (self.passages > 0 and self.in_shard == 0)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        return data

    def summary(self) -> str:
        head = f"shard {self.shard}/{self.num_shards}: "
        if self.skipped:
            lines = [head + f"already encoded in {self.path} (--overwrite to encode it again)"]
        else:
            rate = f", {self.encoded / self.seconds:.1f} passages/s" if self.encoded and self.seconds else ""
            lines = [
                head + f"{self.in_shard} of {self.passages} passages, {self.encoded} encoded in "
                f"{self.seconds:.1f} s{rate} -> {self.path}"
            ]
        lines += [f"  failed: {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


def encode(
    paths: Sequence[str],
    settings: Settings,
    out_dir: str | Path,
    *,
    shard: int = 0,
    num_shards: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> EncodeReport:
    """Encode shard `shard` of `num_shards` of the passages of `paths` into `out_dir`."""
    model = settings.encoder
    fingerprint = model_fingerprint(model)
    target = shard_dir(out_dir, shard, num_shards)
    report = EncodeReport(shard=shard, num_shards=num_shards, path=str(target))
    done = read_header(target)
    if (
        done is not None
        and not overwrite
        and done.get("model") == model_name(model)
        and done.get("model_fingerprint") == fingerprint
    ):
        report.skipped = True
        report.in_shard = int(done.get("passages", 0))
        return report
    found = discover(paths)
    report.failed.extend(found.failures)
    texts: list[str] = []
    for item in found.inputs:
        try:
            loaded = load(item)
            passages = passages_of(item, loaded, settings) if loaded is not None else []
        except LoadError as exc:
            report.failed.append((item.display, str(exc)))
            continue
        except (RecursionError, MemoryError) as exc:  # one hostile file fails alone, as in `rag ingest`
            loaded = passages = None
            report.failed.append((item.display, too_big_to_read(exc)))
            logger.warning("encode: skipped %s: %s", item.display, report.failed[-1][1])
            continue
        for passage in passages:
            report.passages += 1
            if shard_of(passage.id, num_shards) == shard:
                texts.append(passage.indexed_text)
    report.in_shard = len(texts)
    if not report.passages:
        return report
    # a shard that holds none of the passages is still written, empty, so that "all N shards finished"
    # means the job is done and a rerun skips it
    with opened_encoder(model, **settings.passage_encoder_options()) as encoder:
        started = time.perf_counter()
        header = {
            "model": encoder.name,
            "model_fingerprint": fingerprint,
            "backend": settings.encoder_backend(),
            "passage_words": settings.passage_words,
            "split_records": settings.split_records,
            "inputs": [str(p) for p in paths],
        }
        encode_shard(texts, encoder, out_dir, shard, num_shards, header=header, show_progress=progress)
    report.seconds = round(time.perf_counter() - started, 2)
    report.encoded = len(dict.fromkeys(texts))
    return report
