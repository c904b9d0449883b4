import shutil
import time

import numpy as np
import pytest

from retrievers.encoders import DEFAULT_MODEL, DPREncoder, load_encoder, model_name, resolve_model_path
from retrievers.errors import ModelNotFound


def test_default_model_ships_in_its_package():
    path = resolve_model_path(DEFAULT_MODEL)
    assert (path / "modules.json").is_file()
    assert resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") == path
    assert model_name("sentence-transformers/all-MiniLM-L6-v2") == DEFAULT_MODEL


def test_question_and_passage_vectors_are_normalised_and_rank_by_inner_product(encoder):
    q = encoder.encode_query(["Where is the Eiffel Tower?"])
    p = encoder.encode_passage(["The Eiffel Tower is in Paris.", "Cats are small mammals."])
    assert q.shape == (1, 384) and p.shape == (2, 384) and p.dtype == np.float32
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    scores = p @ q[0]
    assert scores[0] > scores[1] + 0.2
    assert encoder.encode_query([]).shape == (0, 384)


def test_separate_question_and_passage_encoders_load_from_one_directory(tmp_path, encoder):
    root = tmp_path / "pair"
    root.mkdir()
    (root / "query_encoder").symlink_to(resolve_model_path(DEFAULT_MODEL), target_is_directory=True)
    shutil.copytree(resolve_model_path(DEFAULT_MODEL), root / "passage_encoder")
    pair = DPREncoder(root)
    assert pair._query_model is not pair._passage_model
    assert np.allclose(pair.encode_query(["x"]), encoder.encode_query(["x"]), atol=1e-5)
    assert pair.name == str(root.resolve())


@pytest.mark.parametrize("spec", ["some-org/unknown-model", "/no/such/model/dir"])
def test_missing_model_fails_fast_with_a_clear_message(spec):
    start = time.monotonic()
    with pytest.raises(ModelNotFound, match="never downloaded"):
        DPREncoder(spec)
    assert time.monotonic() - start < 5


def test_a_directory_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(ModelNotFound, match="cannot load"):
        DPREncoder(tmp_path)


def test_bf16_vectors_are_float32_unit_length_and_rank_like_fp32(encoder):
    texts = [
        "The Eiffel Tower is in Paris.",
        "Cats are small mammals.",
        "Mars is the fourth planet from the Sun.",
        "The Nile is a river in Africa. " * 40,
    ]  # the last one is cut at 256 tokens
    bf16 = load_encoder(DEFAULT_MODEL, backend="torch-bf16")
    assert bf16.precision == "bf16" and bf16._passage_model is not encoder._passage_model
    ours, ref = bf16.encode_passage(texts), encoder.encode_passage(texts)
    assert ours.dtype == np.float32 and np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * ref).sum(axis=1).min() > 0.99
    for question in ("Which planet is red?", "Where is the Eiffel Tower?", "What do cats eat?"):
        q, q_ref = bf16.encode_query([question])[0], encoder.encode_query([question])[0]
        assert np.argsort(-(ours @ q)).tolist() == np.argsort(-(ref @ q_ref)).tolist()


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        DPREncoder(precision="fp16")
