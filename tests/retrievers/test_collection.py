import pytest

from retrievers import Collection, CollectionNotFound, RagError, SourceUpdate, make_passages
from retrievers.stores.chroma_files import orphan_segments


def segment_dirs(chroma_dir):
    return [p.name for p in chroma_dir.iterdir() if p.is_dir()]


def passages(source: str, *texts: str):
    return make_passages(source, [("T", t, {}) for t in texts], 100)


def in_step(coll: Collection) -> bool:
    return not any(coll.consistency().values())


def test_opening_a_missing_collection_says_how_to_create_it(tmp_path):
    with pytest.raises(CollectionNotFound, match="rag ingest PATH --collection nope"):
        Collection("nope", tmp_path)
    with pytest.raises(RagError, match="invalid collection name"):
        Collection("../escape", tmp_path, create=True)


def test_update_is_idempotent_and_replaces_changed_sources(tmp_path, encoder):
    coll = Collection("coll1", tmp_path, create=True)
    stats = coll.update(
        [
            SourceUpdate("a", "s1", passages("a", "alpha one", "beta two")),
            SourceUpdate("b", "s1", passages("b", "gamma three")),
        ],
        encoder,
    )
    assert (stats.added, stats.unchanged, stats.removed) == (3, 0, 0)
    again = coll.update([SourceUpdate("a", "s1", passages("a", "alpha one", "beta two"))], encoder)
    assert (again.added, again.unchanged, again.removed) == (0, 2, 0)
    changed = coll.update([SourceUpdate("a", "s2", passages("a", "alpha one", "delta four"))], encoder)
    assert (changed.added, changed.unchanged, changed.removed) == (1, 1, 1)
    texts = sorted(p.text for p in coll.passages())
    assert texts == ["alpha one", "delta four", "gamma three"]
    assert coll.dense().count() == 3 and len(coll.bm25()) == 3 and in_step(coll)
    coll.update([SourceUpdate("b", None, None)], encoder)
    assert sorted(p.text for p in coll.passages()) == ["alpha one", "delta four"]
    assert coll.model == "all-MiniLM-L6-v2" and in_step(coll)


def test_a_second_process_sees_the_state_on_disk(tmp_path, encoder):
    coll = Collection("coll2", tmp_path, create=True)
    coll.update([SourceUpdate("a", "s", passages("a", "the eiffel tower in paris"))], encoder)
    reopened = Collection("coll2", tmp_path)
    assert reopened.count() == 1
    assert [pid for pid, _ in reopened.bm25().search("eiffel", 5)] == [p.id for p in coll.passages()]


class FailingEncoder:
    """The real encoder, failing on the n-th call: an interrupted ingest."""

    def __init__(self, inner, fail_on: int):
        self.inner, self.fail_on, self.calls = inner, fail_on, 0
        self.name, self.dimension = inner.name, inner.dimension

    def encode_query(self, texts):
        return self.inner.encode_query(texts)

    def encode_passage(self, texts, *, show_progress=False):
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt
        return self.inner.encode_passage(texts)


def test_an_interrupted_update_recovers_and_the_rerun_completes_without_duplicates(tmp_path, encoder, monkeypatch):
    monkeypatch.setattr("retrievers.stores.vectors.ENCODE_CHUNK", 1)
    coll = Collection("coll3", tmp_path, create=True)
    coll.update([SourceUpdate("old", "s", passages("old", "to be replaced"))], encoder)
    texts = [f"passage number {i} about topic {i}" for i in range(6)]
    update = [SourceUpdate("new", "s", passages("new", *texts)), SourceUpdate("old", None, None)]
    with pytest.raises(KeyboardInterrupt):
        coll.update(update, FailingEncoder(encoder, fail_on=4))
    reopened = Collection("coll3", tmp_path)
    assert reopened.recover() is True  # the manifest named unfinished work
    assert in_step(reopened)
    assert 0 < reopened.count() <= 4  # the three vectors that reached Chroma were kept, the removal finished
    assert reopened.signatures()["new"] is None  # so the next ingest looks at the source again
    stats = reopened.update(update, encoder)
    assert stats.added == 6 - 3 and stats.unchanged == 3
    assert sorted(p.text for p in reopened.passages()) == sorted(texts)
    assert reopened.dense().count() == 6 and in_step(reopened) and reopened.recover() is False


def test_vectors_of_two_models_never_mix(tmp_path, encoder):
    coll = Collection("coll4", tmp_path, create=True)
    coll.update([SourceUpdate("a", "s", passages("a", "text"))], encoder)
    with pytest.raises(RagError, match="was encoded with model"):
        coll.check_model("/some/other/model")


def test_drop_removes_everything(tmp_path, encoder):
    coll = Collection("coll5", tmp_path, create=True)
    coll.update([SourceUpdate("a", "s", passages("a", "text"))], encoder)
    coll.drop()
    with pytest.raises(CollectionNotFound):
        Collection("coll5", tmp_path)
    fresh = Collection("coll5", tmp_path, create=True)
    assert fresh.count() == 0 and fresh.dense(create=True).count() == 0


def test_a_reader_does_not_recover_while_a_writer_holds_the_lock(tmp_path, encoder):
    coll = Collection("coll6", tmp_path, create=True)
    coll.update([SourceUpdate("a", "s", passages("a", "text"))], encoder)
    pid = next(coll.passages()).id
    coll.table._db.execute("INSERT INTO pending(id, source, op) VALUES (?, 'a', 'remove')", (pid,))  # work in flight
    with coll._writing():
        assert Collection("coll6", tmp_path).recover(block=False) is False
        assert coll.count() == 1
    assert Collection("coll6", tmp_path).recover(block=False) is True  # the writer is gone: a crash
    assert coll.count() == 0 and in_step(coll)


def test_compaction_keeps_every_passage_and_search_and_frees_deleted_slots(tmp_path, encoder):
    from retrievers import DPRRetriever, HybridRetriever

    coll = Collection("churned", tmp_path, create=True)
    texts = [f"passage number {i} about topic {i % 7} and river {i % 3}" for i in range(300)]
    for round_ in range(3):  # delete and re-add a third of the sources
        coll.update([SourceUpdate(f"s{i}", "sig", passages(f"s{i}", texts[i])) for i in range(300)], encoder)
        coll.update([SourceUpdate(f"s{i}", None, None) for i in range(round_, 300, 3)], encoder)
    coll.update([SourceUpdate(f"s{i}", "sig", passages(f"s{i}", texts[i])) for i in range(300)], encoder)
    reader = HybridRetriever.from_defaults(Collection("churned", tmp_path))  # another handle, opened before
    before = [(p.id, round(s, 4)) for p, s in DPRRetriever.from_defaults(coll).search("topic 3 river 1", 10)]
    hybrid_before = [p.id for p, _ in reader.search("topic 3 river 1", 10)]
    chroma_dir = coll.dense()._live().path
    old_segments = set(segment_dirs(chroma_dir))
    coll.compact()
    assert coll.count() == 300 and coll.dense().count() == 300 and in_step(coll)
    assert not old_segments & set(segment_dirs(chroma_dir)) and not orphan_segments(chroma_dir)  # disk freed
    after = [(p.id, round(s, 4)) for p, s in DPRRetriever.from_defaults(coll).search("topic 3 river 1", 10)]
    assert after == before
    assert [p.id for p, _ in reader.search("topic 3 river 1", 10)] == hybrid_before  # the old handle follows
    coll.close()


def test_a_compaction_killed_between_drop_and_rename_is_finished_by_the_next_open(tmp_path, encoder):
    coll = Collection("killed", tmp_path, create=True)
    coll.update([SourceUpdate("a", "s", passages("a", "alpha one", "beta two"))], encoder)
    store = coll.dense()
    with store._live().use() as (chroma, _):  # what compact() leaves when killed after dropping the old one
        old = chroma.get_collection("killed")
        got = old.get(include=["embeddings", "documents", "metadatas"])
        copy = chroma.create_collection("killed-compacted", configuration={"hnsw": {"space": "ip"}})
        copy.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=got["metadatas"])
        chroma.delete_collection("killed")
    coll.close()
    assert orphan_segments(tmp_path / "chroma")  # the dropped original's index files
    reopened = Collection("killed", tmp_path)
    assert reopened.dense().count() == 2 and in_step(reopened)
    assert not orphan_segments(reopened.dense()._live().path)  # the dropped collection's files are swept
    reopened.close()


def test_deleting_a_collection_removes_its_vector_files(tmp_path, encoder):
    coll = Collection("doomed", tmp_path, create=True)
    coll.update([SourceUpdate("a", "s", passages("a", "alpha one", "beta two"))], encoder)
    chroma_dir = coll.dense()._live().path
    doomed = set(segment_dirs(chroma_dir))
    coll.close()
    kept = Collection("kept", tmp_path, create=True)
    kept.update([SourceUpdate("b", "s", passages("b", "gamma three"))], encoder)
    both = set(segment_dirs(chroma_dir))
    assert doomed and both > doomed
    Collection("doomed", tmp_path).drop()
    assert set(segment_dirs(chroma_dir)) == both - doomed and not orphan_segments(chroma_dir)
    assert [p.text for p in kept.passages()] == ["gamma three"] and in_step(kept)
    kept.close()


def test_the_share_deleted_since_compaction_counts_removed_and_replaced_vectors(tmp_path, encoder):
    coll = Collection("counted", tmp_path, create=True)
    assert coll.deleted_share() == 0.0  # empty
    coll.update(
        [SourceUpdate(f"s{i}", "v1", passages(f"s{i}", f"passage {i} about rivers")) for i in range(10)], encoder
    )
    assert coll.deleted_share() == 0.0  # adding leaves nothing behind
    coll.update([SourceUpdate("s0", None, None), SourceUpdate("s1", None, None)], encoder)
    assert coll.deleted_share() == 2 / 8
    coll.update([SourceUpdate("s2", "v2", passages("s2", "passage 2 rewritten about lakes"))], encoder)  # changed
    assert coll.deleted_share() == 3 / 8
    coll.update([SourceUpdate("s3", "v1", passages("s3", "passage 3 about rivers"))], encoder)  # unchanged
    assert coll.deleted_share() == 3 / 8
    coll.compact()
    assert coll.deleted_share() == 0.0 and coll.count() == 8 and in_step(coll)
    assert Collection("counted", tmp_path).deleted_share() == 0.0  # recorded in the table, not in memory
    coll.close()
