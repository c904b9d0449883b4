"""`rag reindex`: a collection's passages copied into another collection, encoded with another model, so a
fine-tuned encoder is evaluated and served beside the original; incremental and resumable."""

from __future__ import annotations

from rag.config import Settings
from rag.retrieval import reindexed_name
from retrievers.encoders import model_fingerprint, opened_encoder
from retrievers.errors import CollectionNotFound, RagError
from retrievers.stores import Collection, SourceUpdate

from .pipeline import IngestReport


def reindex(
    settings: Settings, source: str, encoder: str, *, into: str | None = None, progress: bool = True
) -> IngestReport:
    """Copy a collection's passages into another collection, encoded with `encoder`.

    The source is never touched, so a fine-tuned model is evaluated and served beside the original.
    Re-running it is incremental: passages already encoded in the target are kept, passages gone
    from the source are removed, and an interrupted run resumes where it stopped.
    """
    target = into or reindexed_name(source, encoder)
    if target == source:
        raise RagError("re-encoding into the source collection itself is not supported: name another with --into")
    src = Collection(source, settings.store, chroma_url=settings.chroma_url)
    try:
        by_source: dict[str, list] = {}
        for passage in src.passages():
            by_source.setdefault(passage.source, []).append(passage)
        signatures = src.signatures()
    finally:
        src.close()
    if not by_source:
        raise CollectionNotFound(f"collection {source!r} is empty: nothing to re-encode")
    with opened_encoder(encoder, **settings.passage_encoder_options()) as encoder_obj:
        fingerprint = model_fingerprint(encoder)
        report = IngestReport(collection=target)
        try:
            old = Collection(target, settings.store, chroma_url=settings.chroma_url)
        except CollectionNotFound:
            old = None
        if old is not None:
            stale = (
                old.count() > 0 and old.model == encoder_obj.name and old.meta.get("model_fingerprint") != fingerprint
            )
            if stale:  # the model was retrained in place: every vector is out of date
                old.drop()
                report.warnings.append(
                    (target, "the model changed since this copy was encoded: encoding every passage again")
                )
            else:
                old.close()
        coll = Collection(target, settings.store, chroma_url=settings.chroma_url, create=True)
        try:
            coll.annotate(model_fingerprint=fingerprint, source_collection=source)
            coll.recover()
            coll.check_model(encoder_obj.name)
            updates = [SourceUpdate(s, signatures.get(s), passages) for s, passages in by_source.items()]
            updates += [SourceUpdate(s, None, None) for s in coll.signatures() if s not in by_source]
            stats = coll.update(updates, encoder_obj, progress=progress)
            report.files_read = len(by_source)
            report.added, report.unchanged, report.removed = stats.added, stats.unchanged, stats.removed
            report.total_passages = coll.count()
        finally:
            coll.close()
        return report
