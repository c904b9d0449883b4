"""Passages encoded and written to a dense store in chunks, longest first, with the time each part took."""

from __future__ import annotations

import time
from typing import Sequence

from ..encoders import Encoder
from ..passages import Passage
from .chroma import Store

ENCODE_CHUNK = 512


def encode_into(
    store: Store,
    passages: Sequence[Passage],
    encoder: Encoder,
    *,
    progress: bool,
    timings: dict[str, float],
    desc: str = "encoding",
) -> None:
    """Encode `passages` and upsert them into `store`, adding the seconds spent to `timings` ("encode",
    "store"); a progress bar when asked."""
    # Longest first, so each chunk holds passages of similar length and batches carry little padding.
    passages = sorted(passages, key=lambda p: len(p.indexed_text), reverse=True)
    timings.setdefault("encode", 0.0)
    timings.setdefault("store", 0.0)
    bar = None
    if progress and passages:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(passages), desc=desc, unit="passage")
    try:
        for start in range(0, len(passages), ENCODE_CHUNK):
            chunk = passages[start : start + ENCODE_CHUNK]
            started = time.perf_counter()
            vectors = encoder.encode_passage([p.indexed_text for p in chunk])
            timings["encode"] += time.perf_counter() - started
            started = time.perf_counter()
            store.upsert(chunk, vectors)
            timings["store"] += time.perf_counter() - started
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
