"""Passage vectors encoded ahead, in shards: DPR's `generate_dense_embeddings` step as files.

Encoding is the cost of a dense index, and it parallelises perfectly: shard `i` of `n` holds the
passages whose id hashes to `i`, so `n` jobs on as many machines or GPUs encode a collection with
no coordination. Each shard is a folder (`keys.npy`, `vectors.npy`, `header.json`) written under a
temporary name and renamed into place, so a killed job leaves nothing that looks finished.
`PrecomputedEncoder` then serves those vectors to an ordinary ingest: it is an `Encoder` whose
`encode_passage` looks each text up and encodes only what no shard holds, so shards that are
missing, stale or made with other passage settings cost time, never correctness.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RagError
from .base import Encoder, close_encoder, model_fingerprint, model_name

FORMAT = "rag-vector-shard"
VERSION = 1
_KEY_BYTES = 16


def shard_of(passage_id: str, num_shards: int) -> int:
    """The shard a passage belongs to: stable across runs, machines and Python versions."""
    return int.from_bytes(hashlib.sha1(passage_id.encode()).digest()[:8], "big") % num_shards


def text_key(text: str) -> bytes:
    """What a vector is filed under: a digest of the exact text the passage encoder reads."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_KEY_BYTES).digest()


def parse_shard(spec: str) -> tuple[int, int]:
    """`"I/N"` (0-based I) as `(I, N)`; a clear error otherwise."""
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError:
        raise RagError(f"--shard takes I/N, e.g. 0/4 for the first of four shards, not {spec!r}") from None
    if count < 1 or not 0 <= index < count:
        raise RagError(f"--shard {spec}: I must be between 0 and N-1, and N at least 1")
    return index, count


def shard_dir(out_dir: str | os.PathLike[str], index: int, count: int) -> Path:
    return Path(out_dir) / f"shard-{index:05d}-of-{count:05d}"


def write_shard(
    out_dir: str | os.PathLike[str],
    index: int,
    count: int,
    texts: Sequence[str],
    vectors: np.ndarray,
    header: dict[str, Any],
) -> Path:
    """Write one finished shard atomically; an existing finished shard is replaced whole."""
    if len(texts) != len(vectors):
        raise ValueError("one vector per text")
    target = shard_dir(out_dir, index, count)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        # raw bytes, not numpy's S dtype, which drops a digest's trailing zero bytes
        keys = np.frombuffer(b"".join(text_key(t) for t in texts), dtype=np.uint8).reshape(len(texts), _KEY_BYTES)
        np.save(work / "keys.npy", keys)
        np.save(work / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        info = {
            "format": FORMAT,
            "version": VERSION,
            "shard": index,
            "num_shards": count,
            "passages": len(texts),
            "dimension": int(vectors.shape[1]) if vectors.ndim == 2 else 0,
            **header,
        }
        (work / "header.json").write_text(json.dumps(info, indent=2))
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def read_header(folder: Path) -> dict[str, Any] | None:
    """A finished shard's header, or None for anything else (a half-written or foreign folder)."""
    try:
        info = json.loads((folder / "header.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        return None
    if not ((folder / "keys.npy").is_file() and (folder / "vectors.npy").is_file()):
        return None
    return info


def finished_shards(out_dir: str | os.PathLike[str]) -> list[tuple[Path, dict[str, Any]]]:
    """Every finished shard folder under `out_dir`, in name order."""
    root = Path(out_dir)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.glob("shard-*-of-*")):
        info = read_header(folder)
        if info is not None:
            found.append((folder, info))
    return found


class PrecomputedEncoder:
    """An `Encoder` that answers `encode_passage` from vector shards, encoding only what they lack.

    `shards` is a folder of shards written by `rag encode` (any number of shard counts mixed).
    Shards made with another model, or an older copy of this one, are refused: their vectors would
    silently disagree with the questions' encoder. `make_encoder` builds the real encoder, and is
    called only if some passage has no stored vector. `reused` and `encoded` count passages.
    """

    def __init__(
        self, model: str | os.PathLike[str], shards: str | os.PathLike[str], make_encoder: Callable[[], Encoder]
    ) -> None:
        self.name = model_name(model)
        self._make_encoder = make_encoder
        self._inner: Encoder | None = None
        found = finished_shards(shards)
        if not found:
            raise RagError(f"{shards}: no finished vector shards here (make them with rag encode ... --out {shards})")
        fingerprint = model_fingerprint(model)
        dims = set()
        for folder, info in found:
            if info.get("model") != self.name or info.get("model_fingerprint") != fingerprint:
                made = info.get("model")
                why = "an older copy of this model" if made == self.name else f"model {made!r}"
                raise RagError(
                    f"{folder}: its vectors were made with {why}, not the {self.name!r} this collection "
                    "uses; encode the shards again with this model (rag encode --encoder ...)"
                )
            dims.add(int(info["dimension"]))
        if len(dims) > 1:
            raise RagError(f"{shards}: shards of different dimensions {sorted(dims)}")
        self.dimension = dims.pop()
        self._rows: dict[bytes, tuple[int, int]] = {}
        self._vectors: list[np.ndarray] = []
        for number, (folder, _info) in enumerate(found):
            try:
                keys = np.load(folder / "keys.npy")
                vectors = np.load(folder / "vectors.npy", mmap_mode="r")  # read on demand
            except (OSError, ValueError) as exc:
                raise RagError(f"{folder}: unreadable shard ({exc}); encode it again with --overwrite") from None
            if keys.shape != (len(vectors), _KEY_BYTES) or vectors.shape[1:] != (self.dimension,):
                raise RagError(f"{folder}: keys and vectors do not match; encode it again with --overwrite")
            self._vectors.append(vectors)
            self._rows.update((key.tobytes(), (number, row)) for row, key in enumerate(keys))
        self.shards = len(found)
        self.reused = 0
        self.encoded = 0

    def __len__(self) -> int:
        return len(self._rows)

    def _encoder(self) -> Encoder:
        if self._inner is None:
            self._inner = self._make_encoder()
        return self._inner

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder().encode_query(texts)

    def close(self) -> None:
        if self._inner is not None:
            close_encoder(self._inner)

    def encode_passage(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        missing = []
        for i, text in enumerate(texts):
            where = self._rows.get(text_key(text))
            if where is None:
                missing.append(i)
            else:
                out[i] = self._vectors[where[0]][where[1]]
        if missing:
            out[missing] = self._encoder().encode_passage([texts[i] for i in missing], show_progress=show_progress)
        self.reused += len(texts) - len(missing)
        self.encoded += len(missing)
        return out


def encode_shard(
    texts: Iterable[str],
    encoder: Encoder,
    out_dir: str | os.PathLike[str],
    index: int,
    count: int,
    *,
    header: dict[str, Any],
    show_progress: bool = False,
) -> Path:
    """Encode the given passage texts (one shard's, duplicates dropped) and write them as shard `index`."""
    unique = list(dict.fromkeys(texts))
    vectors = (
        encoder.encode_passage(unique, show_progress=show_progress)
        if unique
        else np.zeros((0, encoder.dimension), dtype=np.float32)
    )
    return write_shard(out_dir, index, count, unique, vectors, header)
