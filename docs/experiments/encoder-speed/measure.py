"""Why passage encoding is not 3x faster than sentence-transformers fp32 on 2 cores: the measurements.

    python measure.py throughput   # passages/s: torch fp32, torch bf16, torch dynamic int8, ONNX fp32/int8, batch sizes
    python measure.py profile      # where the time goes: torch bf16 and ONNX Runtime int8, by operator
    python measure.py fusions      # ONNX Runtime int8 with attention / layer-norm / GELU fusions turned off

Run with the project's environment (`.venv/bin/python`) from this folder; each prints JSON lines.
The texts are the first 1,000 passages of the built-in corpus, as `rag ingest wiki-vital` makes them.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eval.bench_corpus import builtin_records  # noqa: E402
from retrievers.encoders import DEFAULT_MODEL, load_encoder, resolve_model_path  # noqa: E402
from retrievers.encoders.onnx import export_onnx  # noqa: E402


def texts(n: int = 1000) -> list[str]:
    return [f"{r['title']}. {r['text']}" if not r["text"].startswith(r["title"]) else r["text"]
            for r in builtin_records()[:n]]


def rate(encode, sample: list[str]) -> float:
    encode(sample[:32])  # warm up
    started = time.perf_counter()
    encode(sample)
    return round(len(sample) / (time.perf_counter() - started), 1)


def throughput() -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    sample = texts()
    path = str(resolve_model_path(DEFAULT_MODEL))
    reference = load_encoder(DEFAULT_MODEL, backend="torch").encode_passage(sample)
    for backend in ("torch", "torch-bf16", "onnx", "onnx-int8"):
        for batch in (8, 32, 128):
            enc = load_encoder(DEFAULT_MODEL, backend=backend, batch_size=batch)
            pps = rate(enc.encode_passage, sample)
            cosine = float((enc.encode_passage(sample[:200]) * reference[:200]).sum(axis=1).min())
            print(json.dumps({"backend": backend, "batch": batch, "passages_per_s": pps, "min_cosine": round(cosine, 4)}))
    quantized = torch.ao.quantization.quantize_dynamic(SentenceTransformer(path, device="cpu"), {torch.nn.Linear},
                                                       dtype=torch.qint8)
    vectors = quantized.encode(sample[:200], normalize_embeddings=True)
    print(json.dumps({"backend": "torch dynamic int8", "batch": 32,
                      "passages_per_s": rate(lambda t: quantized.encode(t, batch_size=32), sample),
                      "min_cosine": round(float((vectors * reference[:200]).sum(axis=1).min()), 4)}))
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(3680, 384, dtype=dtype), torch.randn(384, 1536, dtype=dtype)
        for _ in range(3):
            a @ b
        started = time.perf_counter()
        for _ in range(50):
            a @ b
        gflops = 2 * 3680 * 384 * 1536 * 50 / (time.perf_counter() - started) / 1e9
        print(json.dumps({"matmul": str(dtype), "shape": "3680x384 @ 384x1536", "gflop_per_s": round(gflops)}))


def _onnx_session(model: str, profile: bool = False):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.log_severity_level = 3
    options.enable_profiling = profile
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _onnx_rate(session, tokenizer, sample: list[str]) -> float:
    names = [i.name for i in session.get_inputs()]
    order = np.argsort([-len(t) for t in sample])

    def run(batch: list[str]) -> None:
        enc = tokenizer.encode_batch(batch)
        feed = {"input_ids": np.array([e.ids for e in enc]), "attention_mask": np.array([e.attention_mask for e in enc]),
                "token_type_ids": np.array([e.type_ids for e in enc])}
        session.run(None, {k: feed[k] for k in names})

    run(sample[:32])
    started = time.perf_counter()
    for start in range(0, len(sample), 32):
        run([sample[i] for i in order[start : start + 32]])
    return round(len(sample) / (time.perf_counter() - started), 1)


def _tokenizer(folder: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer" / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def profile() -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    sample = texts(320)
    st = SentenceTransformer(str(resolve_model_path(DEFAULT_MODEL)), device="cpu",
                             model_kwargs={"torch_dtype": torch.bfloat16})
    st.encode(sample[:64])
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        st.encode(sample, batch_size=32)
    ops = prof.key_averages()
    total = sum(o.self_cpu_time_total for o in ops)
    top = sorted(ops, key=lambda o: -o.self_cpu_time_total)[:6]
    print(json.dumps({"profile": "torch bf16", "share_percent": {o.key: round(100 * o.self_cpu_time_total / total)
                                                                   for o in top}}))
    folder = export_onnx(DEFAULT_MODEL, "int8")
    session = _onnx_session(str(folder / "model.onnx"), profile=True)
    _onnx_rate(session, _tokenizer(folder), sample)
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"]
    total = sum(by_op.values())
    print(json.dumps({"profile": "onnxruntime int8", "share_percent": {k: round(100 * v / total)
                                                                        for k, v in by_op.most_common(6)}}))


def fusions() -> None:
    """The int8 export rebuilt from the raw graph with fusions turned off, one at a time."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions
    from sentence_transformers import SentenceTransformer

    sample = texts(640)
    folder = export_onnx(DEFAULT_MODEL, "int8")
    tok = _tokenizer(folder)
    print(json.dumps({"graph": "as exported (all fusions)", "passages_per_s":
                      _onnx_rate(_onnx_session(str(folder / "model.onnx")), tok, sample)}))
    st = SentenceTransformer(str(resolve_model_path(DEFAULT_MODEL)), device="cpu",
                             model_kwargs={"attn_implementation": "eager"})
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors):  # type: ignore[no-untyped-def]
            return self.st(dict(zip(names, tensors)))["sentence_embedding"]

    work = Path(tempfile.mkdtemp())
    features = st.tokenize(["an example passage", "a second, longer example passage"])
    axes = {n: {0: "b", 1: "t"} for n in names} | {"e": {0: "b"}}
    with torch.no_grad():
        torch.onnx.export(Pipeline().eval(), tuple(features[n] for n in names), str(work / "raw.onnx"), input_names=names,
                          output_names=["e"], dynamic_axes=axes, opset_version=17, dynamo=False)
    variants = {"no attention fusion": {"enable_attention": False},
                "no skip-layer-norm fusion": {"enable_skip_layer_norm": False},
                "no bias-GELU fusion": {"enable_bias_gelu": False, "enable_bias_skip_layer_norm": False}}
    for label, flags in variants.items():
        opts = FusionOptions("bert")
        for key, value in flags.items():
            setattr(opts, key, value)
        optimizer.optimize_model(str(work / "raw.onnx"), model_type="bert", num_heads=12, hidden_size=384, opt_level=1,
                                 optimization_options=opts).save_model_to_file(str(work / "fused.onnx"))
        quantize_dynamic(str(work / "fused.onnx"), str(work / "int8.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        print(json.dumps({"graph": label, "passages_per_s": _onnx_rate(_onnx_session(str(work / "int8.onnx")), tok,
                                                                       sample)}))


if __name__ == "__main__":
    {"throughput": throughput, "profile": profile, "fusions": fusions}[sys.argv[1] if len(sys.argv) > 1 else "throughput"]()
