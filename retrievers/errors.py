"""User-facing errors: each message says what went wrong and how to fix it."""


class RagError(Exception):
    """An error caused by input or configuration, shown to the user as one line (no traceback)."""


class CollectionNotFound(RagError):
    """The named collection does not exist in the store."""


class ModelNotFound(RagError):
    """An encoder model could not be found locally (nothing is downloaded at run time)."""


class StoreUnavailable(RagError):
    """The vector store (a Chroma server, say) cannot be reached."""
