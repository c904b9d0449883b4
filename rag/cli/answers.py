"""Commands that search and answer: search, ask, chat."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Iterator, Sequence

from rag.cli.common import settings_from
from rag.cli.options import answer_options, common_options, retrieval_options


def _hit_json(passage: Any, score: float) -> dict:
    return {
        "id": passage.id,
        "score": round(float(score), 6),
        "title": passage.title,
        "source": passage.source,
        "text": passage.text,
        "position": passage.position,
        "metadata": dict(passage.extra),
    }


def _print_hits(hits: Sequence[tuple[Any, float]]) -> None:
    if not hits:
        print("no passages matched")
    for rank, (passage, score) in enumerate(hits, start=1):
        where = f"{passage.source}#{passage.position}" if passage.source != passage.title else ""
        where = ", ".join(filter(None, [where, passage.location]))
        text = " ".join(passage.text.split())
        print(f"{rank:3d}. [{score:.4f}] {passage.title}" + (f"  ({where})" if where else ""))
        print(f"     {text[:240]}{'…' if len(text) > 240 else ''}")


def cmd_search(args: argparse.Namespace) -> int:
    from rag.retrieval import open_collection, open_retriever
    from retrievers.filters import parse_where

    settings = settings_from(args)
    filters = parse_where(args.where)
    coll = open_collection(settings)
    retriever = open_retriever(settings, coll)
    if filters:
        retriever.filters = filters
    if args.question is not None:
        if not args.question.strip():
            print("error: the question is empty", file=sys.stderr)
            return 2
        hits = retriever.search(args.question)
        if args.json:
            print(json.dumps([_hit_json(p, s) for p, s in hits], indent=2, ensure_ascii=False))
        else:
            _print_hits(hits)
        return 0
    print(
        f"searching {coll.name} ({coll.count()} passages, {settings.mode}); an empty line or Ctrl-D quits",
        file=sys.stderr,
    )
    for question in _lines("search> "):
        if not question or question in (":q", "/quit", "quit", "exit"):
            break
        _print_hits(retriever.search(question))
    return 0


def _lines(prompt: str) -> Iterator[str]:
    """Lines typed at an interactive prompt, until end of input or Ctrl-C."""
    while True:
        try:
            yield input(prompt).strip()
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return


def _print_short_answers(answer: Any) -> None:
    for label, short in (
        ("short answer", getattr(answer, "short_answer", None)),
        ("in the passage", getattr(answer, "grounded", None)),
    ):
        if short is not None:
            print(f"{label}: {short.text} [{short.source}]")


def _print_sources(answer: Any) -> None:
    _print_short_answers(answer)
    shown = answer.cited or answer.sources
    label = "sources" if answer.cited else "retrieved (none cited)"
    if not shown:
        return
    print(f"\n{label}:")
    for s in shown:
        d = s.to_dict()
        where = ", ".join(filter(None, [d["source"] if d["source"] != d["title"] else "", d["location"]]))
        print(f"  [{d['n']}] {d['title']}" + (f" ({where})" if where else "") + f"  score {d['score']:.4f}")


def _stream_answer(stream: Any) -> Any:
    for piece in stream:
        print(piece, end="", flush=True)
    print()
    return stream.answer


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.answer import GenerationFailed
    from rag.assembly import build_engine
    from retrievers.filters import parse_where

    filters = parse_where(args.where)
    engine = build_engine(settings_from(args))
    try:
        if args.json:
            print(json.dumps(engine.ask(args.question, filters=filters).to_dict(), indent=2, ensure_ascii=False))
        else:
            _print_sources(_stream_answer(engine.stream(args.question, filters=filters)))
    except GenerationFailed as failed:  # the passages were found: show them beside the model's error
        if args.json:
            print(json.dumps(failed.to_dict(), indent=2, ensure_ascii=False))
        else:
            print()
            _print_sources(failed)
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from rag.answer import ChatSession
    from rag.assembly import build_engine
    from retrievers.filters import parse_where

    filters = parse_where(args.where)
    engine = build_engine(settings_from(args))
    chat = ChatSession(engine, filters)
    print(
        f"chatting with {engine.llm.model} over {engine.retriever.collection.name}; /sources, /reset, /quit",
        file=sys.stderr,
    )
    for line in _lines("you> "):
        if not line:
            continue
        if line in ("/quit", "/exit", "/q"):
            break
        if line == "/reset":
            chat.reset()
            print("(history cleared)")
            continue
        if line == "/sources":
            if chat.last is None:
                print("(no answer yet)")
            else:
                _print_sources(chat.last)
            continue
        if line.startswith("/"):
            print("commands: /sources, /reset, /quit")
            continue
        print("rag> ", end="", flush=True)
        _print_short_answers(_stream_answer(chat.stream(line)))
    return 0


def search_parser(sub: Any) -> None:
    p = sub.add_parser("search", help="retrieve passages for a question (interactive without one)")
    p.add_argument("question", nargs="?", help="the question; omit it for an interactive prompt")
    common_options(p)
    retrieval_options(p)
    p.add_argument("--json", action="store_true", help='print [{"id","score","title","source","text"}, ...]')


def ask_chat_parser(sub: Any) -> None:
    for name, text in (
        ("ask", "answer a question from a collection, with cited sources"),
        ("chat", "interactive chat with history (/sources, /reset, /quit)"),
    ):
        p = sub.add_parser(name, help=text)
        if name == "ask":
            p.add_argument("question")
        common_options(p)
        retrieval_options(p, answers=True)
        answer_options(p)
        if name == "ask":
            p.add_argument(
                "--json",
                action="store_true",
                help='print {"answer", "sources", "model", "timings", ...} instead of streaming',
            )
