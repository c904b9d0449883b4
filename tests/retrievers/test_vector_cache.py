"""Stored vectors kept after they are read (`retrievers.stores.vector_cache`), and dropped when the collection
is written."""

import numpy as np

from retrievers.passages import Passage
from retrievers.stores.chroma import ChromaStore
from retrievers.stores.vector_cache import VectorCache


def vectors(*ids: str, dim: int = 4) -> dict[str, np.ndarray]:
    return {pid: np.full(dim, float(len(pid)), dtype=np.float32) for pid in ids}


class Reads:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def __call__(self, ids: list[str]) -> dict[str, np.ndarray]:
        self.asked.append(list(ids))
        return vectors(*[pid for pid in ids if pid != "absent"])


def test_held_vectors_are_not_read_again_and_absent_ones_are_left_out():
    version, reads = [1], Reads()
    cache = VectorCache(lambda: version[0])
    assert set(cache.get(["a", "bb", "absent"], reads)) == {"a", "bb"}
    assert set(cache.get(["bb", "ccc"], reads)) == {"bb", "ccc"}
    assert reads.asked == [["a", "bb", "absent"], ["ccc"]]
    assert cache.get(["a", "bb", "ccc"], reads)["ccc"][0] == 3.0 and len(reads.asked) == 2


def test_a_new_version_or_a_write_empties_it():
    version, reads = [1], Reads()
    cache = VectorCache(lambda: version[0])
    cache.get(["a"], reads)
    version[0] = 2  # another process wrote the collection
    cache.get(["a"], reads)
    cache.clear()  # this process writes it
    cache.get(["a"], reads)
    assert reads.asked == [["a"], ["a"], ["a"]]


def test_it_stays_within_its_bytes_dropping_the_least_recently_used():
    reads = Reads()
    cache = VectorCache(lambda: 1, max_bytes=3 * 16)  # three vectors of 4 float32
    cache.get(["a", "b", "c"], reads)
    cache.get(["a"], reads)  # used again: "b" is now the oldest
    cache.get(["d"], reads)
    assert len(cache) == 3
    cache.get(["a", "c", "d"], reads)
    cache.get(["b"], reads)
    assert reads.asked == [["a", "b", "c"], ["d"], ["b"]]


def test_vectors_read_while_a_write_happens_are_not_kept():
    version = [1]
    cache = VectorCache(lambda: version[0])

    def read_during_a_write(ids):
        version[0] += 1  # the collection changes while we read
        return vectors(*ids)

    cache.get(["a"], read_during_a_write)
    assert len(cache) == 0


def test_the_store_returns_a_rewritten_vector_not_the_one_it_read_before(tmp_path):
    version = [1]
    store = ChromaStore("notes", path=tmp_path / "chroma", version=lambda: version[0])
    try:
        passage = Passage(id="p1", text="The Nile is long.", title="Nile")
        store.upsert([passage], np.array([[1.0, 0.0, 0.0]], dtype=np.float32))
        assert np.allclose(store.embeddings(["p1"])["p1"], [1.0, 0.0, 0.0])
        store.upsert([passage], np.array([[0.0, 1.0, 0.0]], dtype=np.float32))  # this process writes
        assert np.allclose(store.embeddings(["p1"])["p1"], [0.0, 1.0, 0.0])
        other = ChromaStore("notes", path=tmp_path / "chroma", version=lambda: version[0])
        other.upsert([passage], np.array([[0.0, 0.0, 1.0]], dtype=np.float32))
        version[0] = 2  # as the collection's generation moves on another writer's commit
        assert np.allclose(store.embeddings(["p1"])["p1"], [0.0, 0.0, 1.0])
        other.close()
    finally:
        store.close()
