from rag.documents.pipeline import default_ingest_collection, ingest
from rag.retrieval import open_collection, open_retriever
from retrievers import Collection
from tests.conftest import write_docs


def test_first_ingest_adds_every_passage_and_a_rerun_adds_nothing(docs, settings):
    first = ingest([str(docs)], settings, progress=False)
    assert (first.files_read, first.added, first.removed, first.failed) == (4, 5, 0, [])
    again = ingest([str(docs)], settings, progress=False)
    assert (again.files_read, again.files_unchanged, again.added, again.unchanged, again.removed) == (0, 4, 0, 5, 0)
    assert again.total_passages == 5


def test_a_changed_file_replaces_its_old_passages(docs, settings):
    ingest([str(docs)], settings, progress=False)
    (docs / "paris.txt").write_text("The Louvre is the world's most-visited art museum, in Paris.")
    report = ingest([str(docs)], settings, progress=False)
    assert (report.files_read, report.files_unchanged, report.added, report.removed) == (1, 3, 1, 1)
    coll = open_collection(settings)
    texts = " ".join(p.text for p in coll.passages())
    assert "Louvre" in texts and "Eiffel" not in texts
    hits = open_retriever(settings, coll, "bm25").search("Eiffel tower")
    assert all("Eiffel" not in p.text for p, _ in hits)
    assert not any(coll.consistency().values())


def test_a_file_that_breaks_keeps_what_it_had_indexed(docs, settings):
    ingest([str(docs)], settings, progress=False)
    (docs / "paris.txt").write_bytes(b"caf\xe9 is latin-1, not UTF-8")
    report = ingest([str(docs)], settings, progress=False)
    assert [(p.endswith("paris.txt"), "UTF" in r) for p, r in report.failed] == [(True, True)]
    assert report.removed == 0 and report.total_passages == 5


def test_bad_inputs_are_skipped_with_reasons_and_the_rest_is_ingested(tmp_path, settings):
    folder = write_docs(
        tmp_path / "mixed",
        {
            "good.txt": "Photosynthesis turns light into chemical energy.",
            "empty.txt": "",
            "binary.md": b"\x00\x01\x02\x03",
            "broken.pdf": b"%PDF-1.7 garbage",
            "photo.jpg": b"\xff\xd8",
            "drawing.bmp": b"BM",
        },
    )
    report = ingest([str(folder), str(tmp_path / "nope.txt")], settings, progress=False)
    reasons = {path.rsplit("/", 1)[-1]: reason for path, reason in report.failed}
    assert set(reasons) == {"empty.txt", "binary.md", "broken.pdf", "photo.jpg", "nope.txt"}
    assert report.added == 1 and report.unsupported_skipped == 1 and report.ok
    assert "nope.txt" in report.summary() and "1 of unsupported types skipped" in report.summary()


def test_nothing_usable_creates_no_collection(tmp_path, settings):
    report = ingest([str(tmp_path / "missing")], settings, collection="ghost", progress=False)
    assert not report.ok
    assert not (settings.store / "collections" / "ghost").exists()


def test_passage_size_and_record_splitting_are_settings(tmp_path, settings):
    long_text = " ".join(f"word{i}." for i in range(250))
    folder = write_docs(tmp_path / "long", {"a.txt": long_text, "r.jsonl": '{"id": "r", "text": "%s"}\n' % long_text})
    report = ingest([str(folder)], settings.model_copy(update={"passage_words": 50}), progress=False)
    assert report.added == 5 + 1  # the text file is split, the record is kept whole
    split = ingest(
        [str(folder)], settings.model_copy(update={"passage_words": 50, "split_records": True}), progress=False
    )
    # both files are read again (the settings changed); only the record yields new passages
    assert (split.files_read, split.added, split.unchanged, split.removed) == (2, 5, 5, 1)


def test_prune_removes_passages_of_deleted_files(docs, settings):
    ingest([str(docs)], settings, progress=False)
    (docs / "cats.html").unlink()
    kept = ingest([str(docs)], settings, progress=False)
    assert kept.removed == 0 and kept.total_passages == 5
    pruned = ingest([str(docs)], settings, prune=True, progress=False)
    assert (pruned.removed, pruned.sources_pruned, pruned.total_passages) == (1, 1, 4)


def test_collection_defaults():
    assert default_ingest_collection(["wiki-vital"]) == "wiki-vital"
    assert default_ingest_collection(["docs"]) == "default"
    assert default_ingest_collection(["wiki-vital", "docs"]) == "default"


def test_a_collection_remembers_its_encoder(ingested):
    coll = Collection("default", ingested.store)
    assert coll.model == "all-MiniLM-L6-v2" and coll.meta["dimension"] == 384


def test_search_picks_default_or_the_only_collection(docs, settings):
    from rag.retrieval import resolve_collection
    from retrievers import RagError

    assert resolve_collection(settings) == "default"  # nothing yet: the default name
    ingest([str(docs)], settings, collection="only-one", progress=False)
    assert resolve_collection(settings) == "only-one"
    ingest([str(docs)], settings, collection="another", progress=False)
    try:
        resolve_collection(settings)
        raise AssertionError("expected an error naming the collections")
    except RagError as exc:
        assert "another, only-one" in str(exc) and "--collection" in str(exc)
    assert resolve_collection(settings, "another") == "another"


def test_a_different_model_is_refused_before_any_work(ingested, docs, tmp_path):
    import pytest

    from retrievers import RagError
    from retrievers.encoders import resolve_model_path

    other = tmp_path / "other-model"
    other.symlink_to(resolve_model_path("all-MiniLM-L6-v2"), target_is_directory=True)
    (docs / "new.txt").write_text("A file that must not be read under the wrong model.")
    with pytest.raises(RagError, match="was encoded with model 'all-MiniLM-L6-v2'"):
        ingest([str(docs)], ingested.model_copy(update={"encoder": str(other)}), progress=False)
    assert Collection("default", ingested.store).count() == 5


def test_opening_for_search_finishes_a_crashed_update(ingested):
    coll = Collection("default", ingested.store)
    victim = next(coll.passages())
    coll.table._db.execute("INSERT INTO pending(id, source, op) VALUES (?, ?, 'remove')", (victim.id, victim.source))
    reopened = open_collection(ingested)
    assert reopened.count() == 4 and victim.id not in reopened.get([victim.id])
    assert not any(reopened.consistency().values())


def test_a_large_ingest_is_written_in_batches_with_one_bm25_build(docs, settings, monkeypatch):
    from retrievers.stores import BM25Index

    updates, builds = [], []
    real_update, real_save = Collection.update, Collection._save_bm25
    monkeypatch.setattr(
        Collection,
        "update",
        lambda self, ups, *a, **k: (
            updates.append(sum(len(u.passages or ()) for u in ups)) or real_update(self, ups, *a, **k)
        ),
    )
    monkeypatch.setattr(Collection, "_save_bm25", lambda self: builds.append(1) or real_save(self))
    batched = settings.model_copy(update={"ingest_batch": 2})
    report = ingest([str(docs)], batched, progress=False)
    assert report.added == 5 and report.files_read == 4
    written = [n for n in updates if n]  # the last update may carry nothing but the BM25 build
    assert len(written) >= 2 and sum(written) == 5 and updates[-1] <= 2
    assert len(builds) == 1
    coll = Collection("default", settings.store)
    try:
        assert BM25Index.saved_generation(coll.dir / "bm25") == coll.generation()
        assert all(not ids for ids in coll.consistency().values())
        batched_ids = set(coll.ids())
    finally:
        coll.close()

    whole = settings.model_copy(update={"store": settings.store.parent / "whole"})
    ingest([str(docs)], whole, progress=False)
    coll = Collection("default", whole.store)
    try:
        assert set(coll.ids()) == batched_ids
    finally:
        coll.close()
    builds.clear()
    again = ingest([str(docs)], batched, progress=False)
    assert again.added == 0 and again.files_unchanged == 4 and not builds  # nothing new: nothing rebuilt


def test_a_bm25_index_left_behind_by_an_interrupted_batch_is_rebuilt_on_next_use(docs, settings, monkeypatch):
    from retrievers.stores import BM25Index

    calls = []
    real_update = Collection.update

    def dies_on_the_last_write(self, ups, *args, index_bm25=True, **kwargs):
        calls.append(index_bm25)
        if index_bm25:
            raise KeyboardInterrupt  # stands in for a kill after the earlier batches were written
        return real_update(self, ups, *args, index_bm25=index_bm25, **kwargs)

    monkeypatch.setattr(Collection, "update", dies_on_the_last_write)
    try:
        # 1+1+1+2 passages: the last write always has some
        ingest([str(docs)], settings.model_copy(update={"ingest_batch": 3}), progress=False)
    except KeyboardInterrupt:
        pass
    assert calls[-1] is True and calls.count(False) >= 1
    monkeypatch.undo()
    coll = Collection("default", settings.store)
    try:
        assert 0 < coll.count() < 5
        assert BM25Index.saved_generation(coll.dir / "bm25") != coll.generation()  # behind the table
        assert coll.recover() is True
        assert BM25Index.saved_generation(coll.dir / "bm25") == coll.generation()
        assert all(not ids for ids in coll.consistency().values())
    finally:
        coll.close()
    report = ingest([str(docs)], settings, progress=False)
    assert report.total_passages == 5
