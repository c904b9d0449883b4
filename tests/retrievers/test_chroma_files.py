import sqlite3
import uuid
from contextlib import closing

import retrievers.stores.chroma_files as chroma_files
from retrievers.stores.chroma_files import orphan_segments, sweep_orphan_segments, vacuum


def store_with_segments(root, live):
    root.mkdir(exist_ok=True)
    with closing(sqlite3.connect(root / "chroma.sqlite3")) as db:
        db.execute("CREATE TABLE segments (id TEXT PRIMARY KEY, type TEXT, scope TEXT, collection TEXT)")
        db.executemany("INSERT INTO segments VALUES (?, 't', 'VECTOR', 'c')", [(s,) for s in live])
        db.commit()


def test_only_uuid_folders_that_no_segment_owns_are_swept(tmp_path):
    live, dropped = str(uuid.uuid4()), str(uuid.uuid4())
    root = tmp_path / "chroma"
    store_with_segments(root, [live])
    for name in (live, dropped, "not-a-segment"):
        (root / name).mkdir()
        (root / name / "data_level0.bin").write_bytes(b"x" * 1000)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (root / str(uuid.uuid4())).symlink_to(outside)  # a link named as a segment is never followed
    upper = str(uuid.uuid4()).upper()
    (root / upper).mkdir()  # Chroma names segments in lower case: not one of its folders
    assert orphan_segments(root) == [root / dropped]
    assert sweep_orphan_segments(root) == 1000
    assert sorted(p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink()) == sorted(
        [live, "not-a-segment", upper]
    )
    assert (outside / "keep.txt").read_text() == "mine" and (root / live / "data_level0.bin").exists()
    assert sweep_orphan_segments(root) == 0


def test_a_folder_without_chromas_file_is_left_alone(tmp_path):
    (tmp_path / str(uuid.uuid4())).mkdir()
    assert orphan_segments(tmp_path) == [] and sweep_orphan_segments(tmp_path) == 0


def test_vacuum_gives_pages_back_and_reports_a_busy_file(tmp_path, monkeypatch):
    store_with_segments(tmp_path, [])
    with closing(sqlite3.connect(tmp_path / "chroma.sqlite3")) as db:
        db.execute("CREATE TABLE big (x TEXT)")
        db.executemany("INSERT INTO big VALUES (?)", [("y" * 1000,)] * 2000)
        db.commit()
        db.execute("DELETE FROM big")
        db.commit()
    before = (tmp_path / "chroma.sqlite3").stat().st_size
    assert vacuum(tmp_path) is True and (tmp_path / "chroma.sqlite3").stat().st_size < before / 10
    connect = sqlite3.connect
    monkeypatch.setattr(chroma_files.sqlite3, "connect", lambda *a, **k: connect(*a, **{**k, "timeout": 0.1}))
    with closing(connect(tmp_path / "chroma.sqlite3", isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")  # another writer
        assert vacuum(tmp_path) is False


def test_vacuum_lets_go_of_a_dropped_collections_full_text_index(tmp_path):
    """Chroma's FTS5 index keeps a dropped collection's entries as tombstones until it is merged: a plain
    VACUUM leaves them in the file, so a compaction grew the store it was meant to shrink."""
    import random

    import chromadb

    client = chromadb.PersistentClient(path=str(tmp_path))
    keep = client.create_collection("keep", embedding_function=None)
    keep.add(ids=["k"], embeddings=[[1.0, 0.0]], documents=["the one passage that stays"])
    db_file = tmp_path / "chroma.sqlite3"
    small = db_file.stat().st_size
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8)) for _ in range(3000)]
    dropped = client.create_collection("dropped", embedding_function=None)
    dropped.add(
        ids=[str(i) for i in range(2000)],
        embeddings=[[0.0, 1.0]] * 2000,
        documents=[" ".join(rng.sample(words, 60)) for _ in range(2000)],
    )
    client.delete_collection("dropped")
    assert db_file.stat().st_size > small + 2 * 2**20  # the documents and their trigram index
    assert vacuum(tmp_path) is True
    assert db_file.stat().st_size < small + 2**20
    assert keep.query(query_texts=None, query_embeddings=[[1.0, 0.0]], n_results=1)["documents"] == [
        ["the one passage that stays"]
    ]
