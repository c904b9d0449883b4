import pytest

from retrievers.errors import StoreUnavailable
from retrievers.stores import ChromaStore


class _Collection:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def count(self) -> int:
        raise self.error


class _Client:
    def __init__(self, error: Exception) -> None:
        self.collection = _Collection(error)

    def get_or_create_collection(self, name, **kwargs):
        return self.collection

    def get_collection(self, name, **kwargs):
        return self.collection


def test_a_failing_chroma_is_store_unavailable_but_a_bug_in_our_call_stays_a_bug():
    """Narrow translation: a store that fails says so; a wrong call (TypeError) is not hidden as 'unavailable'."""
    with pytest.raises(StoreUnavailable, match="the Chroma store failed: disk I/O error"):
        ChromaStore("notes", client=_Client(RuntimeError("disk I/O error"))).count()
    with pytest.raises(TypeError, match="unexpected keyword"):
        ChromaStore("notes", client=_Client(TypeError("count() got an unexpected keyword"))).count()
