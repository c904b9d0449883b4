"""Exact search over vectors held in memory (`retrievers.stores.exact_index`): the true top k, read again after any
write, and HNSW where the collection does not fit."""

import numpy as np
import pytest

from retrievers.passages import Passage
from retrievers.stores.chroma import ChromaStore
from retrievers.stores.exact_index import ExactIndex


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def loader(ids: list[str], matrix: np.ndarray, reads: list[int] | None = None, during=None):
    """`ExactIndex.search`'s `count` and `read` for a collection holding `matrix`."""

    def read(count):
        assert count == len(ids)
        if reads is not None:
            reads.append(1)
        if during is not None:
            during()
        return list(ids), matrix

    return lambda: len(ids), read


def truth(matrix: np.ndarray, ids: list[str], query: np.ndarray, k: int) -> list[str]:
    scores = matrix @ query
    return [ids[i] for i in sorted(range(len(ids)), key=lambda i: -scores[i])[:k]]


def test_it_returns_the_true_top_k_best_first_with_inner_products():
    rng = np.random.default_rng(0)
    matrix = unit(rng.normal(size=(500, 16)))
    ids = [f"p{i}" for i in range(500)]
    index = ExactIndex(lambda: 1)
    for _ in range(10):
        query = unit(rng.normal(size=(1, 16)))[0]
        hits = index.search(query, 10, None, *loader(ids, matrix))
        assert [pid for pid, _ in hits] == truth(matrix, ids, query, 10)
        assert hits[0][1] == pytest.approx(float(matrix[int(hits[0][0][1:])] @ query), abs=1e-6)
    assert len(index.search(query, 1000, None, *loader(ids, matrix))) == 500


def test_an_id_restriction_searches_only_those_ids_and_ignores_unknown_ones():
    rng = np.random.default_rng(1)
    matrix = unit(rng.normal(size=(200, 8)))
    ids = [f"p{i}" for i in range(200)]
    allowed = ids[50:80] + ["absent"]
    query = unit(rng.normal(size=(1, 8)))[0]
    hits = ExactIndex(lambda: 1).search(query, 5, allowed, *loader(ids, matrix))
    assert [pid for pid, _ in hits] == truth(matrix[50:80], ids[50:80], query, 5)
    assert ExactIndex(lambda: 1).search(query, 5, ["absent"], *loader(ids, matrix)) == []


def test_it_is_read_once_per_version_and_again_after_a_write():
    version, reads = [1], []
    matrix = unit(np.eye(4) + 0.1)
    ids = ["a", "b", "c", "d"]
    index = ExactIndex(lambda: version[0])
    assert index.vectors(["a"]) is None  # nothing held before a search
    for _ in range(3):
        index.search(matrix[0], 2, None, *loader(ids, matrix, reads))
    assert len(reads) == 1 and set(index.vectors(["a", "z"])) == {"a"}
    version[0] = 2
    assert index.vectors(["a"]) is None  # stale vectors are never served
    index.search(matrix[0], 2, None, *loader(ids, matrix, reads))
    index.clear()
    index.search(matrix[0], 2, None, *loader(ids, matrix, reads))
    assert len(reads) == 3


def test_a_collection_over_its_bytes_is_left_to_hnsw_and_not_read():
    reads: list[int] = []
    matrix = unit(np.ones((10, 4)))
    index = ExactIndex(lambda: 1, max_bytes=10 * 4 * 4 - 1)
    ids = [str(i) for i in range(10)]
    assert index.search(matrix[0], 3, None, *loader(ids, matrix, reads)) is None
    assert index.search(matrix[0], 3, None, *loader(ids, matrix, reads)) is None and reads == []


def test_vectors_read_while_a_write_happens_are_not_kept():
    version = [1]
    matrix = unit(np.ones((3, 4)))
    index = ExactIndex(lambda: version[0])

    def write():
        version[0] += 1

    assert index.search(matrix[0], 2, None, *loader(["a", "b", "c"], matrix, during=write)) is None
    assert index.vectors(["a"]) is None


def test_the_store_searches_exactly_and_sees_a_rewrite_by_itself_or_another_process(tmp_path):
    version = [1]
    store = ChromaStore("notes", path=tmp_path / "chroma", version=lambda: version[0])
    rng = np.random.default_rng(2)
    matrix = unit(rng.normal(size=(300, 8)))
    passages = [Passage(id=f"p{i}", text=f"passage {i}", title="T") for i in range(300)]
    try:
        store.upsert(passages, matrix)
        ids = [p.id for p in passages]
        query = unit(rng.normal(size=(1, 8)))[0]
        assert [pid for pid, _ in store.query_ids(query, 20)] == truth(matrix, ids, query, 20)
        assert [p.id for p, _ in store.query(query, 5)] == truth(matrix, ids, query, 5)
        assert store.query(query, 1)[0][0].text == f"passage {truth(matrix, ids, query, 1)[0][1:]}"
        store.upsert([Passage(id="new", text="new", title="T")], query.reshape(1, -1))  # this process writes
        assert store.query_ids(query, 1)[0][0] == "new"
        other = ChromaStore("notes", path=tmp_path / "chroma", version=lambda: version[0])
        other.upsert([Passage(id="new", text="new", title="T")], -query.reshape(1, -1))
        other.close()
        version[0] = 2  # as the collection's generation moves on another writer's commit
        assert store.query_ids(query, 1)[0][0] != "new"
        assert np.allclose(store.embeddings(["new"])["new"], -query)
    finally:
        store.close()


def test_a_store_over_the_budget_still_answers_through_hnsw(tmp_path):
    store = ChromaStore("notes", path=tmp_path / "chroma", version=lambda: 1)
    store._exact.max_bytes = 0  # nothing fits
    matrix = unit(np.eye(4) + 0.05)
    try:
        store.upsert([Passage(id=f"p{i}", text=str(i), title="T") for i in range(4)], matrix)
        assert store.query_ids(matrix[2], 1)[0][0] == "p2"
        assert store._exact.vectors(["p2"]) is None
    finally:
        store.close()
