"""The ONNX Runtime backend: same vectors as sentence-transformers (fp32), close ones (int8), exported once."""

import shutil

import numpy as np
import pytest

from retrievers.encoders import DEFAULT_MODEL, load_encoder, resolve_backend, resolve_model_path
from retrievers.encoders.onnx import OnnxEncoder, export_onnx

pytestmark = pytest.mark.slow

TEXTS = [
    "Where is the Eiffel Tower?",
    # > 256 tokens
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France, designed by Gustave Eiffel. " * 12,
    "Cats are small carnivorous mammals.",
    "",
    "Mars is the fourth planet from the Sun.",
]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def fp32(onnx_cache):
    return OnnxEncoder(DEFAULT_MODEL, precision="fp32", cache_dir=onnx_cache)


@pytest.fixture(scope="session")
def int8(onnx_cache):
    return OnnxEncoder(DEFAULT_MODEL, precision="int8", cache_dir=onnx_cache)


def test_fp32_export_gives_the_sentence_transformers_vectors(fp32, encoder):
    for method in ("encode_query", "encode_passage"):
        ours, ref = getattr(fp32, method)(TEXTS), getattr(encoder, method)(TEXTS)
        assert ours.shape == ref.shape == (len(TEXTS), 384) and ours.dtype == np.float32
        assert np.allclose(ours, ref, atol=2e-4), np.abs(ours - ref).max()


def test_int8_vectors_stay_close_and_rank_alike(int8, encoder):
    ours, ref = int8.encode_passage(TEXTS), encoder.encode_passage(TEXTS)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * ref).sum(axis=1).min() > 0.97
    question = int8.encode_query(["Which planet is red?"])[0]
    assert int(np.argmax(ours @ question)) == int(np.argmax(ref @ encoder.encode_query(["Which planet is red?"])[0]))


def test_batching_and_length_sorting_do_not_change_a_vector(fp32, int8):
    for enc, close in (
        (fp32, lambda a, b: np.allclose(a, b, atol=1e-4)),
        # dynamic quantisation scales activations per batch, so int8 vectors move a little
        (int8, lambda a, b: (a * b).sum(axis=1).min() > 0.98),
    ):
        alone = np.vstack([enc.encode_passage([t]) for t in TEXTS])
        enc.batch_size = 2
        try:
            together = enc.encode_passage(TEXTS)
        finally:
            enc.batch_size = 32
        assert close(alone, together), enc
    assert int8.encode_query([]).shape == (0, 384)


def test_the_export_is_cached_and_an_interrupted_one_leaves_nothing(fp32, onnx_cache, monkeypatch, tmp_path):
    folder = export_onnx(DEFAULT_MODEL, "fp32", cache_dir=onnx_cache)
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    assert export_onnx(DEFAULT_MODEL, "fp32", cache_dir=onnx_cache) == folder
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp

    import retrievers.encoders.onnx as module

    def crash(source, work, precision):
        (work / "model.onnx").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_export", crash)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(DEFAULT_MODEL, "fp32", cache_dir=tmp_path / "cache")
    assert [p for p in (tmp_path / "cache").rglob("model.onnx")] == []


def test_a_separate_encoder_pair_exports_both_towers(tmp_path, onnx_cache, encoder):
    root = tmp_path / "pair"
    shutil.copytree(resolve_model_path(DEFAULT_MODEL), root / "query_encoder")
    (root / "passage_encoder").symlink_to(resolve_model_path(DEFAULT_MODEL), target_is_directory=True)
    pair = OnnxEncoder(root, precision="fp32", cache_dir=onnx_cache)
    assert pair.name == str(root.resolve())
    assert np.allclose(pair.encode_query(["x"]), encoder.encode_query(["x"]), atol=2e-4)


def test_backends_are_chosen_by_name(onnx_cache):
    assert isinstance(load_encoder(backend="onnx-int8", cache_dir=onnx_cache, device="cpu"), OnnxEncoder)
    assert load_encoder(backend="torch-bf16").precision == "bf16"
    with pytest.raises(ValueError, match="auto, torch, torch-bf16, onnx, onnx-int8"):
        load_encoder(backend="tensorrt")


def test_auto_is_int8_onnx_on_the_cpu_and_torch_elsewhere(onnx_cache):
    assert resolve_backend("auto") == resolve_backend("auto", "cpu") == "onnx-int8"
    assert resolve_backend("auto", "cuda") == "torch" and resolve_backend("torch-bf16", "cpu") == "torch-bf16"
    default = load_encoder(cache_dir=onnx_cache)  # the library's default, as the CLI's (tests/rag/test_defaults.py)
    assert isinstance(default, OnnxEncoder) and default.precision == "int8"


def test_auto_encodes_with_torch_a_model_onnx_runtime_cannot_run_and_says_so(onnx_cache, monkeypatch, caplog):
    import retrievers.encoders.factory as factory
    from retrievers.encoders import DPREncoder
    from retrievers.errors import ModelNotFound

    def unexportable(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::fancy' to ONNX opset version 17 is not supported")

    monkeypatch.setattr(factory, "OnnxEncoder", unexportable)
    with caplog.at_level("WARNING", logger="retrievers.encoders.factory"):
        encoder = load_encoder(cache_dir=onnx_cache)
    assert isinstance(encoder, DPREncoder) and "encoding with torch instead" in caplog.text
    with pytest.raises(RuntimeError, match="aten::fancy"):  # asked for by name, ONNX is not silently replaced
        load_encoder(backend="onnx-int8", cache_dir=onnx_cache)
    with pytest.raises(ModelNotFound):  # a missing model is reported as missing, not retried on torch
        load_encoder("/no/such/model", cache_dir=onnx_cache)
