"""Fusing the encoder's operations with torch.compile (inductor on CPU, weights frozen and prepacked), against
the backends `rag bench` already has, on the same passages in one run.

    .venv/bin/python docs/experiments/encoder-speed/compile_trial.py --passages 1000

Each line: passages/s, the ratio to sentences-transformers fp32 measured at the start of the same run, and the
lowest cosine between a backend's vectors and fp32's. The compiled model sees padded shapes only (batches of 32,
lengths rounded up to a multiple of `--bucket`), so it compiles once per length and never falls back to eager.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eval.bench_corpus import builtin_records  # noqa: E402
from eval.machine import cpu_features, cpu_name  # noqa: E402
from retrievers.encoders import DEFAULT_MODEL, load_encoder, resolve_model_path  # noqa: E402

BATCH = 32


def own_loop(model, tokenizer, autocast: bool, bucket: int):
    """Mean-pooled, normalised vectors from a bare transformer, longest texts first, as sentence-transformers does."""
    import torch

    def encode(texts: list[str]) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts])
        out = np.zeros((len(texts), 384), np.float32)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            for s in range(0, len(texts), BATCH):
                idx = order[s : s + BATCH]
                batch = [texts[i] for i in idx]
                feats = tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="pt")
                if bucket:
                    length = min(256, -(-feats["input_ids"].shape[1] // bucket) * bucket)
                    feats = tokenizer(
                        batch + [""] * (BATCH - len(batch)),
                        padding="max_length",
                        truncation=True,
                        max_length=length,
                        return_tensors="pt",
                    )
                hidden = model(**feats).last_hidden_state.float()[: len(batch)]
                mask = feats["attention_mask"][: len(batch)].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1)
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    return encode


def main() -> None:
    import torch
    import torch._inductor.config as inductor
    from sentence_transformers import SentenceTransformer

    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=1000)
    ap.add_argument("--bucket", type=int, default=32)
    args = ap.parse_args()
    records = builtin_records()[: args.passages]
    sample = [r["text"] if r["text"].startswith(r["title"]) else f"{r['title']}. {r['text']}" for r in records]
    print(json.dumps({"cpu": cpu_name(), "features": cpu_features(), "threads": torch.get_num_threads()}), flush=True)

    def rate(encode) -> tuple[float, np.ndarray]:
        encode(sample[:64])
        started = time.perf_counter()
        vectors = encode(sample)
        return len(sample) / (time.perf_counter() - started), vectors

    st = SentenceTransformer(str(resolve_model_path(DEFAULT_MODEL)), device="cpu")
    base, reference = rate(lambda t: st.encode(t, batch_size=BATCH, normalize_embeddings=True))

    def report(label: str, pps: float, vectors: np.ndarray, **extra) -> None:
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        cosine = float((vectors * reference).sum(1).min())
        line = {"backend": label, "passages_per_s": round(pps, 1), "x_fp32": round(pps / base, 2)}
        print(json.dumps(line | {"min_cosine": round(cosine, 6)} | extra), flush=True)

    report("sentence-transformers fp32", base, reference)
    for backend in ("torch-bf16", "onnx-int8"):
        report(backend, *rate(load_encoder(DEFAULT_MODEL, backend=backend).encode_passage))
    bare = st[0].auto_model.eval()
    report("eager, bf16 autocast", *rate(own_loop(bare, st.tokenizer, autocast=True, bucket=0)))
    torch._dynamo.config.recompile_limit = 64
    inductor.freezing = True  # weights as constants: prepacked oneDNN matrix products with fused bias and GELU
    for label, model, autocast in (
        ("compiled, bf16 autocast", bare, True),
        ("compiled, bf16 weights", copy.deepcopy(bare).to(torch.bfloat16), False),
    ):
        started = time.perf_counter()
        encode = own_loop(torch.compile(model, dynamic=False), st.tokenizer, autocast=autocast, bucket=args.bucket)
        encode(sample)  # compiles every padded length
        compile_s = round(time.perf_counter() - started, 1)
        report(label, *rate(encode), compile_s=compile_s)
        torch._dynamo.reset()


if __name__ == "__main__":
    main()
