"""The reader model, shared by the answer path and the reader reranker: loaded once per process."""

from __future__ import annotations

from functools import lru_cache

from retrievers.errors import RagError


@lru_cache(maxsize=4)
def load_reader(path: str) -> object:
    """A reader saved by `rag train-reader`, loaded once per process; anything else is one clear error."""
    from retrievers.encoders import resolve_model_path
    from retrievers.reader import Reader, read_reader_record

    if read_reader_record(resolve_model_path(path)) is None:  # a shipped name resolves (and is verified) here
        raise RagError(
            f"reader {path!r} is not a trained reader (no reader.json): train one with "
            "`rag train-reader --qa FILE -c COLLECTION --out DIR`"
        )
    return Reader(path)
