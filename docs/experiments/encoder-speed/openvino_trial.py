"""Is OpenVINO's CPU runtime a faster passage encoder than torch here? (issue 7's 3x ingest target)

    .venv/bin/pip install openvino && .venv/bin/python docs/experiments/encoder-speed/openvino_trial.py

Exports all-MiniLM-L6-v2 (transformer, mean pooling, normalisation) to plain ONNX, converts it
with OpenVINO and encodes the first 1,000 built-in passages at fp32 and bf16 inference precision,
beside the project's torch, torch-bf16 and onnx-int8 backends; prints passages/s and the lowest
cosine to the sentence-transformers fp32 vectors, one JSON line each.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from measure import rate, texts  # noqa: E402  (this folder's measure.py: the same passages and timing)
from retrievers.encoders import DEFAULT_MODEL, load_encoder, resolve_model_path  # noqa: E402


def raw_onnx(folder: Path) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(resolve_model_path(DEFAULT_MODEL)), device="cpu", local_files_only=True)
    features = st.tokenize(["an example passage", "a second, somewhat longer example passage"])
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]

    class Pipeline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.st = st

        def forward(self, *tensors):
            return self.st(dict(zip(names, tensors)))["sentence_embedding"]

    path = folder / "raw.onnx"
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"sentence_embedding": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(Pipeline().eval(), tuple(features[n] for n in names), str(path), input_names=names,
                          output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
    return path


def openvino_encoder(onnx_path: Path, precision: str, batch: int):
    import openvino as ov
    from tokenizers import Tokenizer

    core = ov.Core()
    model = core.read_model(str(onnx_path))
    config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_NUM_THREADS": os.cpu_count() or 1}
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    tok = Tokenizer.from_file(str(resolve_model_path(DEFAULT_MODEL) / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    inputs = [i.get_any_name() for i in compiled.inputs]

    def encode(sample: list[str]) -> np.ndarray:
        out = np.zeros((len(sample), 384), dtype=np.float32)
        order = np.argsort([-len(t) for t in sample], kind="stable")
        for start in range(0, len(sample), batch):
            idx = order[start:start + batch]
            enc = tok.encode_batch([sample[i] for i in idx])
            arrays = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                      "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                      "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
            out[idx] = request.infer({n: arrays[n] for n in inputs})[0]
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    return encode


def main() -> None:
    sample = texts()
    reference = load_encoder(DEFAULT_MODEL, backend="torch").encode_passage(sample)

    def report(label: str, encode) -> None:
        pps = rate(encode, sample)
        cosine = float((encode(sample[:200]) * reference[:200]).sum(axis=1).min())
        print(json.dumps({"backend": label, "passages_per_s": pps, "min_cosine": round(cosine, 4)}), flush=True)

    for backend in ("torch", "torch-bf16", "onnx-int8"):
        report(backend, load_encoder(DEFAULT_MODEL, backend=backend).encode_passage)
    with tempfile.TemporaryDirectory() as tmp:
        path = raw_onnx(Path(tmp))
        for precision in ("f32", "bf16"):
            for batch in (16, 32, 64):
                report(f"openvino-{precision} batch {batch}", openvino_encoder(path, precision, batch))


if __name__ == "__main__":
    main()
