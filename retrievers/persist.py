"""What our LlamaIndex retrievers share: their default depth, opening their collection, and persist /
from_persist_dir.

The indexes persist in the store by themselves; a retriever persists only where its collection
lives and its own settings (`retriever.json`), as LlamaIndex's retrievers persist their config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from llama_index.core.schema import BaseNode

from .encoders import Encoder
from .filters import NO_FILTERS, FilterError, Filters, as_filters
from .nodes import nodes_to_updates
from .stores import Collection

PERSIST_FILENAME = "retriever.json"
DEFAULT_TOP_K = 20


def collection_for(
    collection: str | Collection,
    store_dir: str | Path | None,
    chroma_url: str | None,
    nodes: Optional[Sequence[BaseNode]],
    encoder: Encoder | None,
) -> Collection:
    """The collection behind a retriever; `nodes`, when given, are indexed into it first."""
    if isinstance(collection, Collection):
        coll = collection
    else:
        coll = Collection(collection, store_dir, chroma_url=chroma_url, create=nodes is not None)
    if nodes is not None:
        coll.update(nodes_to_updates(nodes), encoder)
    return coll


class PersistMixin:
    """`persist(dir)` / `from_persist_dir(dir)` for retrievers opened on a collection, and their metadata
    filters: `filters` (given to the constructor or set later) applies to every search that names none."""

    collection: Collection | None
    similarity_top_k: int
    filters: Filters = NO_FILTERS

    def persist_config(self) -> dict[str, Any]:
        """The constructor settings worth restoring; subclasses add their own."""
        return {"similarity_top_k": self.similarity_top_k, "filters": self.filters.to_dict() if self.filters else None}

    def allowed_ids(self, filters: Any = None) -> list[str] | None:
        """The ids a search may return under `filters` (else this retriever's own), or None when unfiltered."""
        chosen = as_filters(filters) if filters is not None else self.filters
        if not chosen:
            return None
        if self.collection is None:
            raise FilterError("metadata filters need the retriever's collection: open it with from_defaults")
        return self.collection.matching(chosen)

    def persist(self, persist_dir: str | Path) -> None:
        """Record where the collection lives and this retriever's settings."""
        if self.collection is None:
            raise ValueError("only a retriever opened on a collection can be persisted")
        coll = self.collection
        config = {
            "class": type(self).__name__,
            "collection": coll.name,
            "store_dir": str(coll.store_dir.resolve()),
            "chroma_url": coll.chroma_url,
            **self.persist_config(),
        }
        path = Path(persist_dir)
        path.mkdir(parents=True, exist_ok=True)
        (path / PERSIST_FILENAME).write_text(json.dumps(config, indent=2), encoding="utf-8")

    @classmethod
    def from_persist_dir(cls, persist_dir: str | Path, **kwargs: Any) -> Any:
        """Reopen a persisted retriever; keyword arguments override what was saved."""
        config = json.loads((Path(persist_dir) / PERSIST_FILENAME).read_text(encoding="utf-8"))
        if config.pop("class") != cls.__name__:
            raise ValueError(f"{persist_dir} holds a different retriever, not a {cls.__name__}")
        return cls.from_defaults(**{**config, **kwargs})  # type: ignore[attr-defined]
