"""Conversion between our passages and LlamaIndex nodes."""

from __future__ import annotations

from typing import Iterable, Sequence

from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, TextNode

from .passages import Passage
from .stores import SourceUpdate

# Shown to the LLM with each passage; the rest stays out of prompts.
_LLM_KEYS = ("title", "source")


def to_node(passage: Passage, score: float) -> NodeWithScore:
    metadata = passage.metadata()
    node = TextNode(
        id_=passage.id,
        text=passage.text,
        metadata=metadata,
        excluded_llm_metadata_keys=[k for k in metadata if k not in _LLM_KEYS],
        excluded_embed_metadata_keys=[k for k in metadata if k != "title"],
    )
    return NodeWithScore(node=node, score=float(score))


def to_nodes(hits: Iterable[tuple[Passage, float]]) -> list[NodeWithScore]:
    return [to_node(p, s) for p, s in hits]


def nodes_to_updates(nodes: Sequence[BaseNode]) -> list[SourceUpdate]:
    """Group LlamaIndex nodes by their source document into collection updates (ids kept)."""
    by_source: dict[str, list[Passage]] = {}
    for node in nodes:
        meta = {k: v for k, v in (node.metadata or {}).items() if isinstance(v, (str, int, float, bool))}
        source = str(meta.pop("source", "") or meta.get("file_path") or node.ref_doc_id or "nodes")
        title = str(meta.pop("title", "") or meta.get("file_name") or "")
        meta.pop("position", None)
        group = by_source.setdefault(source, [])
        group.append(
            Passage(
                id=node.node_id,
                text=node.get_content(metadata_mode=MetadataMode.NONE),
                title=title,
                source=source,
                position=len(group),
                extra=meta,
            )
        )
    return [SourceUpdate(source=s, signature=None, passages=ps) for s, ps in by_source.items()]
