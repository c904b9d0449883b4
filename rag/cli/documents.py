"""Commands over collections and their documents: ingest, encode, collections, delete, reindex."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rag.cli.common import check_writable, print_report, settings_from
from rag.cli.options import backend_option, common_options, setting, workers_option


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.documents.pipeline import ingest
    from rag.formats.metadata import parse_meta

    settings = settings_from(args)
    check_writable(settings, "add files")
    report = ingest(
        args.paths,
        settings,
        prune=args.prune,
        progress=args.progress and not args.json,
        vectors=args.vectors,
        meta=parse_meta(args.meta),
    )
    return print_report(report, args.json)


def cmd_encode(args: argparse.Namespace) -> int:
    from rag.documents.encoding import encode
    from retrievers.encoders.precomputed import parse_shard

    shard, count = parse_shard(args.shard)
    settings = settings_from(args)
    report = encode(
        args.paths,
        settings,
        args.out,
        shard=shard,
        num_shards=count,
        overwrite=args.overwrite,
        progress=args.progress and not args.json,
    )
    return print_report(report, args.json)


def cmd_collections(args: argparse.Namespace) -> int:
    from retrievers.stores import Collection, list_collections

    settings = settings_from(args)
    rows = []
    for name in list_collections(settings.store):
        coll = Collection(name, settings.store, chroma_url=settings.chroma_url)
        rows.append({"name": name, "passages": coll.count(), "sources": len(coll.signatures()), "model": coll.model})
        coll.close()
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no collections in {settings.store}; create one with `rag ingest PATH`")
    else:
        for row in rows:
            print(f"{row['name']}: {row['passages']} passages from {row['sources']} sources, model {row['model']}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from rag.documents.sources import delete_source, list_sources
    from retrievers.stores import Collection

    settings = settings_from(args)
    if not args.list_sources:
        check_writable(settings, "delete")
    if args.list_sources:
        return _print_sources(list_sources(settings, args.name), json_out=False)
    if args.source:
        advice = None
        for source in args.source:
            done = delete_source(settings, args.name, source)
            print(f"deleted {source} from {args.name}: {done.removed} passages")
            advice = done.advice
        if advice:
            print(f"advice: {advice}")
        return 0
    Collection(args.name, settings.store, chroma_url=settings.chroma_url).drop()
    print(f"deleted collection {args.name}")
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from rag.documents.sources import list_sources

    return _print_sources(list_sources(settings_from(args), args.name), args.json)


def _print_sources(infos: list, json_out: bool) -> int:
    if json_out:
        print(json.dumps([i.to_dict() for i in infos], indent=2, ensure_ascii=False))
        return 0
    if not infos:
        print("no sources")
    for info in infos:
        when = (info.to_dict()["ingested"] or "-").replace("+00:00", "Z")
        print(f"{info.passages:>8}  {when:20}  {info.source}")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from rag.documents.compaction import compact

    settings = settings_from(args)
    check_writable(settings, "compact")
    done = compact(settings, args.name)
    print(
        f"compacted {done.collection} in {done.seconds:.1f} s: the store is {done.store_mb_after:.1f} MB "
        f"(was {done.store_mb_before:.1f} MB)"
    )
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from rag.documents.reindexing import reindex

    settings = settings_from(args)
    check_writable(settings, "reindex")
    report = reindex(settings, args.source, args.encoder, into=args.into, progress=args.progress and not args.json)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.summary())
        print(f"search it with: rag search --collection {report.collection} QUESTION")
    return 0


def ingest_parser(sub: Any) -> None:
    p = sub.add_parser(
        "ingest",
        help="add files, folders or a built-in corpus to a collection",
        description="Ingest .txt .md .html .pdf .jsonl .json files, folders of them, or the built-in "
        "corpus 'wiki-vital'. Re-ingesting is incremental.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    common_options(p)
    setting(
        p,
        "encoder",
        help="encoder of a new collection: a shipped model name or a model directory",
        default="dpr-nq for the built-in corpus, else all-MiniLM-L6-v2",
    )
    setting(p, "passage_words")
    setting(p, "split_records", action="store_true")
    p.add_argument("--prune", action="store_true", help="remove passages of files gone from the given folders")
    p.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata for every passage of these inputs, to filter on with --where (repeatable; "
        "numbers and true/false are typed): --meta team=legal --meta year=2021",
    )
    p.add_argument(
        "--vectors",
        metavar="DIR",
        help="passage vectors encoded ahead by `rag encode --out DIR` "
        "shards: passages found there are not encoded again",
    )
    workers_option(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def encode_parser(sub: Any) -> None:
    p = sub.add_parser(
        "encode",
        help="encode one shard of the passage vectors of files or a corpus (a batch job)",
        description="Read the inputs as `rag ingest` would, keep the passages of shard I of N, encode "
        "them and write DIR/shard-I-of-N. Run N of these at once (machines, GPUs), then "
        "`rag ingest PATH... --vectors DIR` builds the collection without encoding again.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of vector shards")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="which shard of how many (default 0/1: all)")
    setting(p, "encoder", help="passage encoder; the collection must use the same")
    setting(p, "passage_words")
    setting(p, "split_records", action="store_true")
    setting(p, "device")
    setting(p, "batch_size")
    backend_option(p)
    workers_option(p)
    p.add_argument("--overwrite", action="store_true", help="encode a shard that is already finished again")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def reindex_parser(sub: Any) -> None:
    p = sub.add_parser(
        "reindex",
        help="encode a collection's passages with another encoder, into a new collection",
        description="Copy a collection's passages into COLLECTION.MODEL (or --into), encoded with "
        "--encoder. The source is left as it is; re-running is incremental.",
    )
    p.add_argument("source", metavar="COLLECTION")
    setting(p, "encoder", required=True, help="a model directory (e.g. from `rag train`) or shipped name", default="")
    p.add_argument("--into", help="target collection (default SOURCE.MODEL_DIR_NAME)")
    setting(p, "store")
    setting(p, "chroma_url", default="embedded Chroma in the store")
    backend_option(p)
    workers_option(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def collections_parser(sub: Any) -> None:
    p = sub.add_parser("collections", help="list collections")
    common_options(p)
    p.add_argument("--json", action="store_true")


def sources_parser(sub: Any) -> None:
    p = sub.add_parser("sources", help="list a collection's sources with their passage counts and ingest times")
    p.add_argument("name", nargs="?", help="the collection (default: RAG_COLLECTION, else 'default')")
    common_options(p)
    p.add_argument("--json", action="store_true", help='print [{"source", "passages", "ingested"}, ...]')


def compact_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compact",
        help="rebuild a collection's Chroma index, which deleted and replaced passages "
        "slow down (disk is not reclaimed yet: docs/filters.md)",
        description="Rebuild the collection's Chroma index from its own vectors and vacuum its "
        "SQLite files (embedded store), under the write lock. Nothing is encoded again.",
    )
    p.add_argument("name", nargs="?", help="the collection (default: RAG_COLLECTION, else 'default')")
    common_options(p)


def delete_parser(sub: Any) -> None:
    p = sub.add_parser("delete", help="delete a collection with its vectors and indexes, or only some of its sources")
    p.add_argument("name")
    p.add_argument(
        "--source",
        action="append",
        metavar="SOURCE",
        help="delete only this source's passages (a path as ingested, or an uploaded file's name); repeatable",
    )
    p.add_argument("--list-sources", action="store_true", help="list the collection's sources and delete nothing")
    common_options(p)
