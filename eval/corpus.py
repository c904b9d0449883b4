"""A dataset's own documents as a collection, so SQuAD- and BEIR-style sets evaluate out of the box.

The collection is named after the dataset (`squad-dev`, say); with distractors from another
collection it is `NAME-with-OTHER`, holding both. Ingestion is incremental: the second run
encodes nothing. A collection of that name that holds other documents is never written to.
"""

from __future__ import annotations

import hashlib
import json
import re

from rag.config import Settings
from rag.documents.pipeline import ingest_records
from retrievers.datasets import EvalDataset
from retrievers.errors import CollectionNotFound, RagError
from retrievers.stores import Collection, SourceUpdate


def collection_name(dataset: EvalDataset, distractors: str | None = None) -> str:
    """A valid collection name for the dataset (and its distractor collection)."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", dataset.name).strip("._-") or "dataset"
    if len(slug) < 3:
        slug = f"{slug}-eval"
    name = f"{slug}-with-{distractors}" if distractors else slug
    return name[:200].rstrip("._-")


def dataset_collection(
    settings: Settings, dataset: EvalDataset, distractors: str | None = None, *, progress: bool = False
) -> str:
    """Ingest the dataset's documents (and a distractor collection's passages); return the collection name."""
    if not dataset.documents:
        raise RagError(
            f"{dataset.path}: a {dataset.format} file has no passages of its own: "
            "give the collection to search with --collection"
        )
    name = collection_name(dataset, distractors)
    own = f"dataset:{dataset.format}:{dataset.name}"  # how the collection records its dataset
    _check_own(settings, name, own, dataset.name, distractors)
    records = [(d.title, d.text, {"doc_id": d.id}) for d in dataset.documents]
    signature = hashlib.sha256(json.dumps(records, ensure_ascii=False).encode("utf-8")).hexdigest()
    extra: list[SourceUpdate] = []
    if distractors:
        if distractors == name:
            raise RagError("--distractors names the evaluation collection itself")
        other = Collection(distractors, settings.store, chroma_url=settings.chroma_url)
        try:
            signatures = other.signatures()
            by_source: dict[str, list] = {}
            for passage in other.passages():
                by_source.setdefault(passage.source, []).append(passage)
        finally:
            other.close()
        if not by_source:
            raise RagError(f"distractor collection {distractors!r} is empty")
        extra = [SourceUpdate(source, signatures.get(source), passages) for source, passages in by_source.items()]
    ingest_records(settings, name, own, signature, records, extra_updates=extra, progress=progress)
    return name


def _check_own(settings: Settings, name: str, own: str, dataset: str, distractors: str | None) -> None:
    """Refuse to write into an existing collection unless it was built from this dataset (source `own`)
    alone, or with distractors merged in; an empty one is fine."""
    try:
        existing = Collection(name, settings.store, chroma_url=settings.chroma_url)
    except CollectionNotFound:
        return
    try:
        stored = set(existing.signatures())
    finally:
        existing.close()
    if stored and (own not in stored or (not distractors and stored != {own})):
        raise RagError(
            f"collection {name!r} already exists and holds other documents than the dataset {dataset!r}, "
            "so the evaluation leaves it alone: rename the dataset file, or name the collection to "
            "search instead (--collection, or the UI's Collection field)"
        )
