"""The fast encoder path: a sentence-transformers model exported to ONNX and run with ONNX Runtime.

The export is made here, from the local model files (nothing is downloaded), once per model and
precision, and cached. It holds the whole sentence-transformers pipeline (transformer, pooling,
normalisation), with attention fused by ONNX Runtime's transformer optimiser; `int8` adds dynamic
per-channel weight quantisation. At run time only `onnxruntime` and `tokenizers` are needed: torch
is not imported, which also makes loading faster.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..environment import quiet_offline
from ..errors import ModelNotFound
from .base import PASSAGE_SUBDIR, QUERY_SUBDIR, model_fingerprint, model_name, resolve_model_path

PRECISIONS = ("fp32", "int8")
EXPORT_VERSION = 1  # bump when the export recipe changes, so cached exports are redone
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "rag"


def export_dir(model_dir: Path, precision: str, cache_dir: Path) -> Path:
    """Where the export of `model_dir` at `precision` is cached (a changed model gets a new folder)."""
    import onnxruntime

    key = f"{model_fingerprint(model_dir)}-{precision}-v{EXPORT_VERSION}-ort{onnxruntime.__version__}"
    return Path(cache_dir) / "onnx" / key


def export_onnx(
    model: str | os.PathLike[str], precision: str = "fp32", *, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Export one sentence-transformers model directory to ONNX (cached); returns the folder.

    The folder holds `model.onnx`, the tokenizer files and `export.json`. It is written to a
    temporary folder and renamed into place, so an interrupted export leaves nothing half-written.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    source = resolve_model_path(model)
    target = export_dir(source, precision, Path(cache_dir or default_cache_dir()))
    if (target / "model.onnx").is_file():
        return target
    with _export_lock:
        if (target / "model.onnx").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
        try:
            _export(source, work, precision)
            try:
                work.rename(target)
            except OSError:  # another process got there first
                if not (target / "model.onnx").is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


_export_lock = threading.Lock()


def _export(source: Path, work: Path, precision: str) -> None:
    quiet_offline()
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        # eager attention traces to the MatMul/Softmax pattern ONNX Runtime fuses into one Attention op
        st = SentenceTransformer(
            str(source), device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"}
        )
    except Exception as exc:
        raise ModelNotFound(f"cannot load a sentence-transformers model from {source}: {exc}") from exc
    features = (st.preprocess if hasattr(st, "preprocess") else st.tokenize)(
        ["an example passage", "a second, somewhat longer example passage"]
    )
    names = [name for name in _INPUTS if name in features]

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: Any) -> Any:
            return self.st(dict(zip(names, tensors)))["sentence_embedding"]

    raw = work / "raw.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in names} | {"sentence_embedding": {0: "batch"}}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
        torch.onnx.export(
            Pipeline().eval(),
            tuple(features[name] for name in names),
            str(raw),
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    optimized = work / "optimized.onnx"
    if not _optimize(raw, optimized, st):
        shutil.copyfile(raw, optimized)
    if precision == "int8":
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(optimized),
            str(work / "model.onnx"),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    else:
        optimized.rename(work / "model.onnx")
    for leftover in (raw, optimized):
        leftover.unlink(missing_ok=True)
    st.tokenizer.save_pretrained(str(work / "tokenizer"))
    (work / "export.json").write_text(
        json.dumps(
            {
                "source": str(source),
                "precision": precision,
                "max_seq_length": int(st.max_seq_length),
                "dimension": int(_dimension(st)),
                "inputs": names,
                "version": EXPORT_VERSION,
            },
            indent=2,
        )
    )


def _dimension(st: Any) -> int:
    get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(get())


def _optimize(raw: Path, out: Path, st: Any) -> bool:
    """Fuse attention, GELU and layer norms for BERT-like models; False when it does not apply."""
    config = getattr(st[0], "auto_model", None)
    config = getattr(config, "config", None)
    if config is None or getattr(config, "model_type", "") not in {
        "bert",
        "roberta",
        "xlm-roberta",
        "distilbert",
        "mpnet",
    }:
        return False
    try:
        from onnxruntime.transformers import optimizer

        optimized = optimizer.optimize_model(
            str(raw),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            opt_level=1,
        )
        optimized.save_model_to_file(str(out))
        return True
    except Exception:  # the unfused graph is still correct, only slower
        return False


class _Session:
    """One exported model: its tokenizer and an ONNX Runtime session using every core."""

    def __init__(self, folder: Path, threads: int | None, spinning: bool) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        info = json.loads((folder / "export.json").read_text())
        self.dimension = int(info["dimension"])
        self.inputs = list(info["inputs"])
        tokenizer_file = folder / "tokenizer" / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ModelNotFound(
                f"{folder} has no fast tokenizer (tokenizer.json); use the torch backend for this model"
            )
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(int(info["max_seq_length"]))
        pad_id = self.tokenizer.token_to_id("[PAD]")
        pad_id = 0 if pad_id is None else pad_id
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=self.tokenizer.id_to_token(pad_id) or "[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Busy-waiting worker threads speed up batch encoding, but for single questions they steal the
        # cores from the Chroma and BM25 work that follows (hybrid p50 on 2 cores: 8 ms without, 10.5 ms with).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def run(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self.session.run(None, {name: arrays[name] for name in self.inputs})[0]


@lru_cache(maxsize=8)
def _load_session(folder: str, threads: int | None, spinning: bool) -> _Session:
    return _Session(Path(folder), threads, spinning)


class OnnxEncoder:
    """DPR's question and passage encoders run with ONNX Runtime; same vectors as `DPREncoder`, faster.

    `precision="int8"` quantises the weights (about 4x smaller, faster on CPU, vectors within a
    cosine of about 0.99 of fp32). A directory holding `query_encoder/` and `passage_encoder/` is
    exported as two models. Passages are sorted by length before batching so that little time is
    spent on padding. The recorded `name` is the model's, so collections encoded with either
    backend stay interchangeable.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        precision: str = "int8",
        normalize: bool = True,
        batch_size: int = 32,
        threads: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = resolve_model_path(model)
        self.name = model_name(model)
        self.precision = precision
        self.normalize = normalize
        self.batch_size = batch_size
        if (self.path / QUERY_SUBDIR).is_dir() and (self.path / PASSAGE_SUBDIR).is_dir():
            query_dir = export_onnx(self.path / QUERY_SUBDIR, precision, cache_dir=cache_dir)
            passage_dir = export_onnx(self.path / PASSAGE_SUBDIR, precision, cache_dir=cache_dir)
        else:
            query_dir = passage_dir = export_onnx(self.path, precision, cache_dir=cache_dir)
        self._query = _load_session(str(query_dir), threads, False)
        self._passage = _load_session(str(passage_dir), threads, True)
        self.dimension = self._passage.dimension

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        """Encode questions with the question encoder; returns float32 (n, dimension)."""
        return self._encode(self._query, texts, False)

    def encode_passage(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Encode passages with the passage encoder; returns float32 (n, dimension)."""
        return self._encode(self._passage, texts, show_progress)

    def _encode(self, session: _Session, texts: Sequence[str], show_progress: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if len(texts) == 0:
            return out
        order = np.argsort([-len(t) for t in texts], kind="stable")  # characters track tokens well enough to sort by
        bar = None
        if show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="encoding", unit="passage")
        try:
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = session.run([texts[i] for i in idx])
                if bar is not None:
                    bar.update(len(idx))
        finally:
            if bar is not None:
                bar.close()
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.where(norms == 0, 1.0, norms)
        return out

    def __repr__(self) -> str:
        return f"OnnxEncoder({self.name!r}, precision={self.precision!r}, dimension={self.dimension})"
