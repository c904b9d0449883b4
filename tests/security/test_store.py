"""The store under interruption and sharing: the encoder record survives a kill, one Chroma client per path,
and BM25 versions outlive the readers that hold them."""

import sqlite3
import threading

import pytest

import retrievers.stores.collection as collection_module
from retrievers import Collection, RagError, SourceUpdate, make_passages
from retrievers.stores import BM25Index, ChromaStore

IDS = ["p1", "p2", "p3"]
TEXTS = [
    "The Eiffel Tower stands in Paris",
    "Rivers flow into the sea; the Nile is long",
    "Cats are mammals and cats chase mice",
]


def passages(source, *texts):
    return make_passages(source, [("T", t, {}) for t in texts], 100)


class Killed(BaseException):
    """A kill -9 at a chosen point: nothing after it runs."""


class KilledOnChunk:
    """The real encoder, killed on its n-th call."""

    def __init__(self, inner, fail_on):
        self.inner, self.fail_on, self.calls = inner, fail_on, 0
        self.name, self.dimension = inner.name, inner.dimension

    def encode_query(self, texts):
        return self.inner.encode_query(texts)

    def encode_passage(self, texts, *, show_progress=False):
        self.calls += 1
        if self.calls == self.fail_on:
            raise Killed
        return self.inner.encode_passage(texts)


# -- the encoder record -------------------------------------------------------------------------


def test_a_kill_right_after_the_first_rows_keeps_the_encoder_record(tmp_path, encoder, monkeypatch):
    coll = Collection("enc1", tmp_path, create=True)

    def killed(self):
        raise Killed

    monkeypatch.setattr(Collection, "_save_bm25", killed)  # the step right after the rows are committed
    with pytest.raises(Killed):
        coll.update([SourceUpdate("a", "s", passages("a", "alpha one", "beta two"))], encoder)
    monkeypatch.undo()
    reopened = Collection("enc1", tmp_path)
    assert reopened.count() == 2
    assert reopened.model == encoder.name
    reopened.check_model(encoder.name)
    assert reopened.encoder().name == encoder.name


def test_a_kill_while_the_first_vectors_are_written_keeps_the_encoder_record_through_recovery(
    tmp_path, encoder, monkeypatch
):
    monkeypatch.setattr("retrievers.stores.vectors.ENCODE_CHUNK", 1)
    coll = Collection("enc2", tmp_path, create=True)
    with pytest.raises(Killed):
        coll.update(
            [SourceUpdate("a", "s", passages("a", "one text", "two text", "three text"))],
            KilledOnChunk(encoder, fail_on=3),
        )
    reopened = Collection("enc2", tmp_path)
    assert reopened.recover() is True and reopened.count() == 2  # the vectors that reached Chroma joined the table
    assert reopened.model == encoder.name and reopened.meta["dimension"] == encoder.dimension


def test_rows_without_a_recorded_encoder_fail_loudly(tmp_path, encoder, monkeypatch):
    coll = Collection("enc3", tmp_path, create=True)
    coll.update([SourceUpdate("a", "s", passages("a", "alpha one"))], encoder)
    coll.annotate(model=None, dimension=None)  # what a kill before the record left behind
    coll.table._db.execute("DELETE FROM state WHERE key IN ('model', 'dimension')")
    loaded = []
    monkeypatch.setattr(collection_module, "load_encoder", lambda name, **_: loaded.append(name) or encoder)
    broken = Collection("enc3", tmp_path)
    assert broken.model is None
    with pytest.raises(RagError, match="no record of the encoder"):
        broken.encoder()
    with pytest.raises(RagError, match="rag delete enc3"):
        broken.check_model(encoder.name)
    with pytest.raises(RagError, match="no record of the encoder"):
        broken.update([SourceUpdate("b", "s", passages("b", "beta two"))], encoder)
    assert loaded == []  # never silently the default encoder


def test_an_emptied_collection_records_the_encoder_of_its_new_rows(tmp_path, encoder):
    coll = Collection("enc4", tmp_path, create=True)
    coll.annotate(model="some/old-model", dimension=7)
    coll.update([SourceUpdate("a", "s", passages("a", "alpha one"))], encoder)  # no rows yet: any model may start it
    assert coll.model == encoder.name and coll.meta["dimension"] == encoder.dimension


# -- one Chroma client per path ------------------------------------------------------------------


def bump_generation(coll):
    """What another process's write looks like from here: the table's generation moves on."""
    db = sqlite3.connect(coll.dir / "passages.sqlite", isolation_level=None)
    try:
        db.execute("UPDATE state SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
    finally:
        db.close()


def test_collections_on_one_path_share_one_client_and_survive_each_others_close(tmp_path, encoder):
    first = Collection("shared1", tmp_path, create=True)
    first.update([SourceUpdate("a", "s", passages("a", "the eiffel tower in paris"))], encoder)
    other = Collection("shared2", tmp_path, create=True)
    other.update([SourceUpdate("b", "s", passages("b", "the nile is a river"))], encoder)
    second = Collection("shared1", tmp_path)
    assert first.dense().client is second.dense().client is other.dense().client

    bump_generation(first)  # another process wrote: a reader opens the store anew, for everyone on the path
    assert first.dense().count() == 1
    assert first.dense().client is second.dense().client is other.dense().client
    assert second.dense().count() == 1 and other.dense().count() == 1

    query = encoder.encode_query(["eiffel"])[0]
    first.close()
    assert [p.text for p, _ in second.dense().query(query, 1)] == ["the eiffel tower in paris"]
    assert other.dense().count() == 1
    with pytest.raises(RagError, match="closed"):
        first.dense().count()  # a closed collection says so, rather than reopening behind the others' back
    second.close()
    assert other.dense().count() == 1
    other.close()
    again = Collection("shared1", tmp_path)  # the last user closed the client; the next one opens it anew
    try:
        assert [p.text for p, _ in again.dense().query(query, 1)] == ["the eiffel tower in paris"]
    finally:
        again.close()


def test_stores_opened_in_threads_share_one_client(tmp_path):
    stores, barrier = [], threading.Barrier(6)

    def open_store(i):
        barrier.wait()
        stores.append(ChromaStore(f"thread{i}", path=tmp_path / "chroma"))

    threads = [threading.Thread(target=open_store, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stores) == 6 and len({id(s.client) for s in stores}) == 1
    for store in stores:
        store.close()


# -- BM25 versions and their readers --------------------------------------------------------------


def test_a_reader_holding_a_version_still_loads_after_two_newer_ones_are_published(tmp_path, monkeypatch):
    import bm25s

    directory = tmp_path / "bm25"
    BM25Index.build(IDS, TEXTS, generation=1).save(directory)
    original = bm25s.BM25.load.__func__
    published = []

    def load_while_a_writer_publishes(cls, path, *args, **kwargs):
        if not published:  # the reader is inside its load when the writer publishes N+1 and N+2
            published.append(path)
            BM25Index.build(IDS[:2], TEXTS[:2], generation=2).save(directory)
            BM25Index.build(IDS[:1], TEXTS[:1], generation=3).save(directory)
        return original(cls, path, *args, **kwargs)

    monkeypatch.setattr(bm25s.BM25, "load", classmethod(load_while_a_writer_publishes))
    loaded = BM25Index.load(directory)
    assert loaded is not None and loaded.generation == 1 and loaded.ids == IDS
    assert loaded.search("eiffel", 1)[0][0] == "p1"
    monkeypatch.undo()
    assert BM25Index.load(directory).generation == 3
    BM25Index.build(IDS, TEXTS, generation=4).save(directory)  # no reader holds the old ones now: they go
    assert len(list(directory.glob("v-*"))) == 1 and BM25Index.load(directory).generation == 4


def test_a_reader_told_of_a_removed_version_retries_with_the_current_one(tmp_path, monkeypatch):
    from pathlib import Path

    directory = tmp_path / "bm25"
    BM25Index.build(IDS, TEXTS, generation=1).save(directory)
    original = Path.read_text
    published = []

    def read_then_publish(self, *args, **kwargs):
        text = original(self, *args, **kwargs)
        if self.name == "CURRENT" and not published:  # told of N, which is gone before it is opened
            published.append(text)
            BM25Index.build(IDS[:2], TEXTS[:2], generation=2).save(directory)
            BM25Index.build(IDS[:1], TEXTS[:1], generation=3).save(directory)
        return text

    monkeypatch.setattr(Path, "read_text", read_then_publish)
    loaded = BM25Index.load(directory)
    assert published and loaded is not None and loaded.generation == 3 and loaded.ids == ["p1"]


def test_collection_readers_keep_working_while_a_writer_publishes(tmp_path, encoder):
    coll = Collection("bm1", tmp_path, create=True)
    coll.update([SourceUpdate("a", "s", passages("a", "alpha one"))], encoder)
    reader = Collection("bm1", tmp_path)
    problems, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                index = BM25Index.load(reader.dir / "bm25")
                if index is None or not len(index):
                    problems.append("no index")
            except Exception as exc:  # noqa: BLE001 (any failure is the finding)
                problems.append(repr(exc))

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(15):
            coll.update([SourceUpdate(f"s{i}", "s", passages(f"s{i}", f"text number {i}"))], encoder)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert problems == []
    assert len(reader.bm25()) == 16


def test_a_version_held_here_survives_a_writer_in_another_process(tmp_path, monkeypatch):
    import subprocess
    import sys

    import bm25s

    directory = tmp_path / "bm25"
    BM25Index.build(IDS, TEXTS, generation=1).save(directory)
    original = bm25s.BM25.load.__func__
    writer = (
        "import sys; from retrievers.stores import BM25Index\n"
        "for g in (2, 3): BM25Index.build(['p1'], ['The Eiffel Tower'], generation=g).save(sys.argv[1])"
    )

    def load_while_another_process_publishes(cls, path, *args, **kwargs):
        subprocess.run([sys.executable, "-c", writer, str(directory)], check=True, timeout=120)
        return original(cls, path, *args, **kwargs)

    monkeypatch.setattr(bm25s.BM25, "load", classmethod(load_while_another_process_publishes))
    loaded = BM25Index.load(directory)
    assert loaded is not None and loaded.generation == 1 and loaded.ids == IDS
    assert BM25Index.saved_generation(directory) == 3
