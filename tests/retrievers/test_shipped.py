"""The shipped models: present, matching their records' checksums, loading offline, and failing in one line."""

import json
import shutil

import numpy as np
import pytest

from retrievers.encoders import DPREncoder, model_fingerprint, resolve_model_path, shipped
from retrievers.errors import ModelNotFound


@pytest.fixture
def models_copy(tmp_path, monkeypatch):
    """The shipped models copied into a temporary package folder, with an empty cache of merged models."""
    root = tmp_path / "models"
    shutil.copytree(shipped.MODELS_DIR, root)
    monkeypatch.setattr(shipped, "MODELS_DIR", root)
    monkeypatch.setattr(shipped, "default_models_cache", lambda: tmp_path / "cache")
    return root


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
