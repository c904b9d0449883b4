"""Opening the configured retriever over a collection (used by the CLI and, later, the engine)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Union

from pydantic import ValidationError

from rag.config import Settings
from retrievers.dense import DPRRetriever
from retrievers.encoders import load_encoder, model_name
from retrievers.encoders.shipped import SHIPPED, record_hash
from retrievers.errors import CollectionNotFound, RagError
from retrievers.hybrid import HybridRetriever
from retrievers.reranking import RerankedRetriever
from retrievers.sparse import BM25Retriever
from retrievers.stores import Collection, list_collections, validate_collection_name

AnyRetriever = Union[DPRRetriever, BM25Retriever, HybridRetriever, RerankedRetriever]
logger = logging.getLogger(__name__)


def resolve_collection(settings: Settings, name: str | None = None) -> str:
    """The collection to search: the one named, else `default`, else the only one there is."""
    name = name or settings.collection
    if name:
        return validate_collection_name(name)
    known = list_collections(settings.store)
    if "default" in known or not known:
        return "default"
    if len(known) == 1:
        return known[0]
    raise RagError(f"several collections in {settings.store} ({', '.join(known)}): choose one with --collection")


def reindexed_name(source: str, encoder: str) -> str:
    """The collection `rag reindex` writes by default: the source's name plus the model directory's."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", Path(encoder).name or "model").strip("._-") or "model"
    return f"{source}.{slug}"[:200].rstrip("._-")


def open_collection(settings: Settings, name: str | None = None) -> Collection:
    """The named (or default) collection; with an explicit encoder it was not built with, its re-encoded copy."""
    coll = Collection(resolve_collection(settings, name), settings.store, chroma_url=settings.chroma_url)
    if "encoder" in settings.model_fields_set and coll.model is not None:
        wanted = model_name(settings.encoder)
        if wanted != coll.model:
            copy = reindexed_name(coll.name, settings.encoder)
            try:
                other = Collection(copy, settings.store, chroma_url=settings.chroma_url)
            except CollectionNotFound:
                other = None
            if other is None or other.model != wanted:
                if other is not None:
                    other.close()
                source = coll.name
                coll.close()
                raise RagError(
                    f"collection {source!r} was encoded with model {coll.model!r}, not {wanted!r}: "
                    f"re-encode it with `rag reindex {source} --encoder {settings.encoder}`"
                )
            coll.close()
            coll = other
    coll.recover(block=False)  # finish an update a crash interrupted, unless one is running now
    if coll.count() == 0:
        coll.close()
        raise CollectionNotFound(
            f"collection {coll.name!r} is empty: add documents with `rag ingest PATH --collection {coll.name}`"
        )
    return coll


# what `rag tune` chooses for a collection: used as a whole, and only when none of them is set explicitly
TUNED_FIELDS = ("mode", "fusion", "dense_weight", "normalization")


def tuned_settings(settings: Settings, collection: Collection) -> Settings:
    """The settings with the collection's tuned retrieval (`rag tune`) in place of the defaults; a retrieval
    setting given explicitly (flag, environment, config file) keeps every one of them as given."""
    tuned = collection.tuned
    if not tuned or settings.model_fields_set & set(TUNED_FIELDS):
        return settings
    update = {key: tuned[key] for key in TUNED_FIELDS if tuned.get(key) is not None}
    try:
        return Settings.model_validate({**settings.model_dump(exclude_unset=True), **update})
    except ValidationError:
        logger.warning(
            "collection %s: its tuned retrieval %s is not valid here; using the defaults", collection.name, update
        )
        return settings


def open_retriever(settings: Settings, collection: Collection, mode: str | None = None) -> AnyRetriever:
    """The retriever for `mode` (dense, bm25 or hybrid) with the settings' k and fusion options (the collection's
    tuned ones when none is set), behind the settings' reranker when one is named."""
    first_stage = _first_stage(settings, collection, mode)
    from rag.reranking import build_reranker

    reranker = build_reranker(settings)
    if reranker is None:
        return first_stage
    return RerankedRetriever(
        first_stage, reranker, candidates=settings.rerank_candidates, similarity_top_k=settings.top_k
    )


def _first_stage(settings: Settings, collection: Collection, mode: str | None) -> AnyRetriever:
    settings = tuned_settings(settings, collection)
    mode = mode or settings.mode
    k = settings.top_k
    if mode == "bm25":
        return BM25Retriever.from_defaults(collection, similarity_top_k=k)
    model = settings.encoder_for(collection.model)
    check_encoder(collection, model)  # before loading the model: a refused collection costs no load
    encoder = load_encoder(model, **settings.encoder_options())
    if mode == "dense":
        return DPRRetriever.from_defaults(collection, encoder=encoder, similarity_top_k=k)
    if mode == "hybrid":
        return HybridRetriever.from_defaults(
            collection,
            encoder=encoder,
            similarity_top_k=k,
            fusion=settings.fusion,
            candidates=settings.candidates,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            normalization=settings.normalization,
        )
    raise RagError(f"unknown retrieval mode {mode!r}: use dense, bm25 or hybrid")


def check_encoder(collection: Collection, model: str) -> None:
    """Refuse a collection whose vectors another model made, or another version of its shipped model (the package
    was upgraded with a retrained `dpr-nq`): its questions would be encoded by the new weights and searched against
    the old vectors. A new collection records the version it is encoded with; collections made before versions
    were recorded, and collections of your own models (whose folders may move), are taken as they are."""
    name = model_name(model)
    collection.check_model(name)
    if name not in SHIPPED:
        return
    fingerprint = record_hash(name)  # a shipped model's `model_fingerprint`, without verifying its files again
    recorded = collection.meta.get("model_fingerprint")
    if recorded is None:
        if collection.count() == 0:
            collection.annotate(model_fingerprint=fingerprint)
        return
    if recorded != fingerprint:
        raise RagError(
            f"collection {collection.name!r} was encoded by an earlier version of {name!r}: encode it "
            f"again with `rag reindex {collection.name} --encoder {name} --into NEW_NAME`, or delete "
            f"it with `rag delete {collection.name}` and ingest it again"
        )
