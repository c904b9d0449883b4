"""DPR's encoders: questions and passages to vectors, on the backend of your choice.

base.py                  the `Encoder` protocol, the default models, model specs to directories
sentence_transformers.py `DPREncoder`: sentence-transformers with torch (fp32, bf16)
onnx.py                  `OnnxEncoder`: the same model exported to ONNX Runtime (fp32, int8)
parallel.py              `ParallelEncoder`: passages encoded in worker processes
precomputed.py           `PrecomputedEncoder`: vectors encoded ahead in shards (`rag encode`)
shipped.py, lora.py      the models shipped in the package as LoRA deltas, merged on first use
factory.py               `load_encoder`: the one module that picks among the backends
"""

from .base import (
    DEFAULT_MODEL,
    FINETUNED_MODEL,
    Encoder,
    close_encoder,
    model_fingerprint,
    model_name,
    resolve_model_path,
)
from .factory import AUTO, BACKENDS, DEFAULT_BACKEND, load_encoder, native_bf16, opened_encoder, resolve_backend
from .onnx import OnnxEncoder, export_onnx
from .parallel import ParallelEncoder
from .precomputed import PrecomputedEncoder
from .sentence_transformers import DPREncoder

__all__ = [
    "AUTO",
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_MODEL",
    "DPREncoder",
    "Encoder",
    "FINETUNED_MODEL",
    "OnnxEncoder",
    "ParallelEncoder",
    "PrecomputedEncoder",
    "close_encoder",
    "export_onnx",
    "load_encoder",
    "model_fingerprint",
    "model_name",
    "native_bf16",
    "opened_encoder",
    "resolve_backend",
    "resolve_model_path",
]
