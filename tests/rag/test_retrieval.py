"""Opening a collection for search: a collection encoded by an earlier version of a shipped model is refused."""

import json

from tests.conftest import run, write_docs


def _upgrade(models_copy):
    """What a package upgrade with a retrained `dpr-nq` looks like to a store: the shipped record changes (here its
    recipe only; the files and their checksums stay valid), so the model's version does too."""
    path = models_copy / "dpr-nq" / "record.json"
    record = json.loads(path.read_text())
    record["recipe"] += " --epochs 5"
    path.write_text(json.dumps(record))


def test_a_collection_from_an_earlier_shipped_encoder_is_refused_in_one_line(models_copy, tmp_path, capsys):
    docs, store = write_docs(tmp_path / "docs"), str(tmp_path / "store")
    code, _, err = run(capsys, "ingest", str(docs), "--store", store, "--encoder", "dpr-nq", "--no-progress")
    assert code == 0, err
    meta = json.loads((tmp_path / "store" / "collections" / "default" / "meta.json").read_text())
    assert meta["model"] == "dpr-nq" and meta["model_fingerprint"]
    code, out, err = run(capsys, "search", "who designed the eiffel tower", "--store", store, "-k", "1")
    assert code == 0 and "Eiffel" in out, err
    _upgrade(models_copy)
    for argv in (["search", "who designed the eiffel tower"], ["ingest", str(docs), "--no-progress"]):
        code, out, err = run(capsys, *argv, "--store", store)
        assert code == 1 and err.count("\n") == 1 and "earlier version of 'dpr-nq'" in err, err
        assert "rag reindex default --encoder dpr-nq" in err and "Eiffel" not in out


def test_a_collection_that_recorded_no_version_is_searched_as_it_is(models_copy, tmp_path, capsys):
    docs, store = write_docs(tmp_path / "docs"), str(tmp_path / "store")
    assert run(capsys, "ingest", str(docs), "--store", store, "--encoder", "dpr-nq", "--no-progress")[0] == 0
    path = tmp_path / "store" / "collections" / "default" / "meta.json"
    meta = json.loads(path.read_text())
    del meta["model_fingerprint"]  # made before versions were recorded
    path.write_text(json.dumps(meta))
    _upgrade(models_copy)
    code, out, err = run(capsys, "search", "who designed the eiffel tower", "--store", store, "-k", "1")
    assert code == 0 and "Eiffel" in out, err
    assert "model_fingerprint" not in json.loads(path.read_text())  # nothing to vouch for it: nothing recorded
