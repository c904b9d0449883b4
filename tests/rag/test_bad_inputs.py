"""The rest of the bad-input catalogue: files that vanish, change or cannot be read mid-ingest, deep and
looping folders, and very long single-line files. Each gets a reason; the rest of the batch goes in."""

import os
import random
from pathlib import Path

import pytest

import rag.documents.pipeline as ingestion_module
from rag.documents.loaders import Input, LoadError, discover, load
from rag.documents.pipeline import ingest
from retrievers.passages import make_passages
from retrievers.stores import Collection

from ..conftest import write_docs


def ingest_with_hook(monkeypatch, settings, folder, hook):
    """Ingest `folder`, calling `hook(path)` just before each file is read (between discovery and reading)."""
    real_load = ingestion_module.load

    def load_after_hook(item, *args, **kwargs):
        if item.path is not None:
            hook(item.path)
        return real_load(item, *args, **kwargs)

    monkeypatch.setattr(ingestion_module, "load", load_after_hook)
    return ingest([str(folder)], settings, progress=False)


def texts(settings):
    coll = Collection("default", settings.store)
    try:
        return sorted(p.text for p in coll.passages())
    finally:
        coll.close()


def test_a_file_that_vanishes_after_discovery_is_reported_and_the_rest_ingested(tmp_path, settings, monkeypatch):
    folder = write_docs(
        tmp_path / "d",
        {
            "a.txt": "Alpha text about rivers.",
            "b.txt": "Beta text about mountains.",
            "c.txt": "Gamma text about planets.",
        },
    )
    report = ingest_with_hook(monkeypatch, settings, folder, lambda p: p.unlink() if p.name == "b.txt" else None)
    assert report.failed == [(str(folder / "b.txt"), "file vanished before it could be read")]
    assert report.added == 2 and texts(settings) == ["Alpha text about rivers.", "Gamma text about planets."]


def test_a_file_that_changes_mid_ingest_is_indexed_as_read_and_its_next_version_replaces_it(
    tmp_path, settings, monkeypatch
):
    folder = write_docs(tmp_path / "d", {"a.txt": "The first version.", "b.txt": "Untouched."})
    changed = lambda p: p.write_text("The second version.") if p.name == "a.txt" else None  # noqa: E731
    report = ingest_with_hook(monkeypatch, settings, folder, changed)
    assert not report.failed and texts(settings) == ["The second version.", "Untouched."]
    (folder / "a.txt").write_text("The third version.")
    monkeypatch.undo()
    again = ingest([str(folder)], settings, progress=False)
    assert (again.added, again.removed, again.files_unchanged) == (1, 1, 1)
    assert texts(settings) == ["The third version.", "Untouched."]


def test_an_unreadable_file_is_permission_denied_and_the_rest_ingested(tmp_path, settings, monkeypatch):
    folder = write_docs(tmp_path / "d", {"open.txt": "Readable text.", "locked.txt": "Secret text."})
    locked = folder / "locked.txt"
    if os.geteuid() == 0:  # root reads anything: make the read itself fail as it would for another user
        real = Path.read_bytes
        monkeypatch.setattr(
            Path,
            "read_bytes",
            lambda self: (
                (_ for _ in ()).throw(PermissionError(13, "Permission denied")) if self == locked else real(self)
            ),
        )
    else:
        locked.chmod(0)
    report = ingest([str(folder)], settings, progress=False)
    assert report.failed == [(str(locked), "permission denied")] and texts(settings) == ["Readable text."]


def test_deeply_nested_folders_and_symlink_loops_are_walked_safely(tmp_path, settings):
    deep = tmp_path / "root"
    for level in range(120):
        deep = deep / f"d{level}"
    write_docs(deep, {"bottom.txt": "Found at the bottom of a deep tree."})
    root = tmp_path / "root"
    (root / "d0" / "up").symlink_to(root, target_is_directory=True)  # a folder loop
    (root / "self.txt").symlink_to(root / "self.txt")  # a file that links to itself
    (root / "x.txt").symlink_to(root / "y.txt")
    (root / "y.txt").symlink_to(root / "x.txt")  # two files linking to each other
    found = discover([str(root)])
    assert [i.path.name for i in found.inputs] == ["bottom.txt"]
    report = ingest([str(root)], settings, progress=False)
    assert report.added == 1 and not report.failed


def test_a_ten_megabyte_single_line_file_splits_into_passages_losing_nothing(tmp_path):
    rng = random.Random(0)
    vocabulary = [f"word{i}" for i in range(5000)]
    line = " ".join(rng.choice(vocabulary) for _ in range(1_250_000))  # about 10 MB, not one newline
    path = tmp_path / "one-line.txt"
    path.write_text(line)
    assert path.stat().st_size > 10_000_000
    loaded = load(Input(str(path), path))
    passages = make_passages(str(path), [(u.title, u.text, u.extra) for u in loaded.units], 100)
    assert len(passages) > 10_000 and max(len(p.text.split()) for p in passages) <= 125
    assert [w for p in passages for w in p.text.split()] == line.split()
    assert len({p.id for p in passages}) == len(passages)


@pytest.mark.parametrize(
    "content, reason",
    [
        ("é".encode("utf-8")[:1] + b" and then text", "not UTF-8 text"),
        ("text".encode("utf-16-le"), "binary file"),  # UTF-16 without a byte-order mark has NUL bytes
        (b"\xff\xfe" + "ok".encode("utf-16-le") + b"\x00\xd8", "invalid UTF-16"),
    ],
)
def test_text_in_other_or_broken_encodings_is_refused_with_the_reason(tmp_path, content, reason):
    path = tmp_path / "odd.txt"
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load(Input(str(path), path))
