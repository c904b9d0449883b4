"""Where passages live: a collection keeps its passage table, Chroma vectors and BM25 index in step.

collection.py      `Collection`: the three parts of a collection, updated and recovered together
passage_table.py   the SQLite passage table, the record of what is indexed (`SourceUpdate`, `diff`)
chroma.py          `ChromaStore`: the dense vectors, searched by inner product (`Store` protocol)
chroma_clients.py  one Chroma client per path or server URL and process, shared by the stores
chroma_files.py    the files Chroma leaves behind: dropped collections' index folders, SQLite free pages
bm25_index.py      `BM25Index`: bm25s, saved in versions switched atomically
filter_index.py    `FilterIndex`: the passages' metadata by key, to find the ids a filter allows
layout.py          where a store keeps its collections; `list_collections`
vectors.py         `encode_into`: passages encoded and written to a dense store in chunks
"""

from .bm25_index import BM25Index
from .chroma import COLLECTION_NAME_PATTERN, ChromaStore, Store, validate_collection_name
from .chroma_clients import chroma_client
from .chroma_files import folder_bytes
from .collection import Collection
from .filter_index import FilterIndex
from .layout import default_store_dir, list_collections
from .passage_table import SourceUpdate, UpdateStats

__all__ = [
    "BM25Index",
    "COLLECTION_NAME_PATTERN",
    "ChromaStore",
    "Collection",
    "FilterIndex",
    "SourceUpdate",
    "Store",
    "UpdateStats",
    "chroma_client",
    "folder_bytes",
    "default_store_dir",
    "list_collections",
    "validate_collection_name",
]
