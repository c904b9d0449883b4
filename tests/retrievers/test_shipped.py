"""The shipped models: present, matching their records' checksums, loading offline, and failing in one line."""

import json

import numpy as np
import pytest

from retrievers.encoders import DPREncoder, model_fingerprint, resolve_model_path, shipped
from retrievers.errors import ModelNotFound


def test_every_shipped_model_has_a_record_that_its_files_match_and_is_small():
    total = 0
    for name, kind in shipped.SHIPPED.items():
        record = shipped.shipped_record(name)  # raises on a missing or changed file
        assert record["name"] == name and record["kind"] == kind and record["base_model"] == "all-MiniLM-L6-v2"
        assert record["recipe"].startswith("rag train") and record["lora"]["rank"] >= 1 and record["commit"]
        total += sum((shipped.MODELS_DIR / name / f).stat().st_size for f in record["files"])
    assert total < 10 * 2**20  # every retrain stays in git history


@pytest.mark.slow
def test_the_fine_tuned_encoder_loads_offline_and_is_not_the_base(models_copy):
    tuned, base = DPREncoder("dpr-nq"), DPREncoder("all-MiniLM-L6-v2")
    assert tuned.name == "dpr-nq" and tuned.dimension == base.dimension == 384
    question = ["who painted a sunday afternoon on the island of la grande jatte"]
    a, b = tuned.encode_query(question), base.encode_query(question)
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-4 and float((a @ b.T).item()) < 0.999
    path = resolve_model_path("dpr-nq")
    assert (path / shipped.COMPLETE).is_file() and path.parent == models_copy.parent / "cache"
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert resolve_model_path("dpr-nq") == path and (path / "model.safetensors").stat().st_mtime_ns == stamp
    assert model_fingerprint("dpr-nq") == shipped.record_hash("dpr-nq")  # the same on every machine


@pytest.mark.slow
def test_the_shipped_reader_loads_and_reads_a_span(models_copy):
    from retrievers.reader import Reader

    reader = Reader("reader-nq")
    assert reader.trained
    spans = reader.read(
        "Who painted A Sunday Afternoon on the Island of La Grande Jatte?",
        [
            "A Sunday Afternoon on the Island of La Grande Jatte is a painting by Georges Seurat, "
            "painted from 1884 to 1886."
        ],
    )
    assert spans and "Seurat" in spans[0].text


@pytest.mark.parametrize("damage", ["tamper", "delete", "record"])
def test_a_damaged_shipped_model_is_one_error_that_names_make_models(models_copy, damage):
    folder = models_copy / "dpr-nq"
    if damage == "tamper":
        path = folder / "lora_adapter.safetensors"
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "delete":
        (folder / "lora.json").unlink()
    else:
        (folder / "record.json").write_text("{not json")
    with pytest.raises(ModelNotFound, match="make models") as info:
        resolve_model_path("dpr-nq")
    assert "\n" not in str(info.value)


def test_a_damaged_model_on_the_command_line_is_one_line(models_copy, tmp_path, capsys):
    from rag.cli import main
    from tests.conftest import write_docs

    (models_copy / "dpr-nq" / "lora.json").write_text(json.dumps({"rank": 1, "alpha": 1}))  # changed: no match
    docs = write_docs(tmp_path / "docs")
    code = main(["ingest", str(docs), "--store", str(tmp_path / "store"), "--encoder", "dpr-nq", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0 and "make models" in err, err


def _trained_delta(folder, seed, rank=2):
    """A LoRA delta on two layers and the training record `rag train` would write beside it."""
    import torch

    from retrievers.encoders.lora import LoraSpec, save_delta

    generator = torch.Generator().manual_seed(seed)
    state = {}
    for layer in ("encoder.layer.0.attention.self.query", "encoder.layer.1.output.dense"):
        state[f"{layer}.lora_A.weight"] = torch.randn(rank, 8, generator=generator)
        state[f"{layer}.lora_B.weight"] = torch.randn(8, rank, generator=generator)
    folder.mkdir()
    spec = LoraSpec(rank=rank, alpha=2.0 * rank)
    save_delta(folder, state, spec)
    record = {
        "base_model": "all-MiniLM-L6-v2",
        "lora": spec.to_dict(),
        "config": {"max_seq_length": 192},
        "validation": {"seed": seed},
        "seconds": 10.0,
    }
    (folder / "rag_training.json").write_text(json.dumps(record))
    return record


def _products(folder):
    """Each adapted layer's full delta, scale * B @ A, as the merge adds it to the base weights."""
    from retrievers.encoders.lora import load_delta

    state, spec = load_delta(folder)
    return {
        key.removesuffix(".lora_A.weight"): spec.scale
        * (state[key.replace("lora_A", "lora_B")].float() @ state[key].float())
        for key in state
        if ".lora_A." in key
    }


def test_several_encoders_ship_as_the_mean_of_their_deltas(tmp_path, monkeypatch, capsys):
    from rag.cli import main

    out = tmp_path / "models"
    out.mkdir()
    for seed in (1, 2):
        _trained_delta(tmp_path / f"run{seed}", seed)
    package = shipped.package
    monkeypatch.setattr(shipped, "package", lambda *a, **k: package(*a, **{**k, "out_root": out}))  # not the package
    recipe = "rag train ...; rag train ... --learning-rate 5e-4"
    code = main(
        ["package-model", str(tmp_path / "run1"), str(tmp_path / "run2"), "--name", "dpr-nq", "--recipe", recipe]
    )
    assert code == 0 and "shipped dpr-nq" in capsys.readouterr().out
    target = out / "dpr-nq"
    souped, first, second = _products(target), _products(tmp_path / "run1"), _products(tmp_path / "run2")
    assert souped.keys() == first.keys()
    for layer in souped:  # exactly the mean (up to the adapter's fp16 storage)
        assert np.allclose(souped[layer].numpy(), ((first[layer] + second[layer]) / 2).numpy(), atol=2e-2)
    record = json.loads((target / "record.json").read_text())
    assert record["lora"]["rank"] == 4 and [m["validation"] for m in record["soup"]] == [{"seed": 1}, {"seed": 2}]
    assert set(record["files"]) == {"lora_adapter.safetensors", "lora.json"} and record["seconds"] == 20.0


def test_encoders_with_different_lora_settings_do_not_ship_as_a_soup(tmp_path):
    records = [_trained_delta(tmp_path / "a", 1, rank=2), _trained_delta(tmp_path / "b", 2, rank=4)]
    with pytest.raises(ModelNotFound, match="same LoRA settings"):
        shipped.package(
            [tmp_path / "a", tmp_path / "b"], "dpr-nq", trained=records, recipe="r", commit=None, out_root=tmp_path
        )
    assert not (tmp_path / "dpr-nq").exists()
