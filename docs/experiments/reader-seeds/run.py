"""Does averaging several readers (`rag train-reader --seeds N`) beat one, and does span-only training do as well?

Two training runs of the same command differ by 8 F1 points on the stand-in (README, "Short answers:
the reader"), so one reader is a noisy draw. This script labels NQ-open dev over wiki-vital once,
then trains readers on those examples with different settings, keeps every member of a multi-seed run,
and scores each reader (a member, the members' averaged weights, or the members' averaged logits) on
gold paragraphs: each question reads its own silver paragraph alone, so only span extraction counts.

    python docs/reader/squad_proxy.py --all --skip 0 --stop 300 --qa EFFICIENTQA --out /tmp/rs/dev.json
    python docs/experiments/reader-seeds/run.py label --qa ../shared/data/nq-open/NQ-open.dev.jsonl -c wiki-vital --out /tmp/rs/labels.json
    python docs/experiments/reader-seeds/run.py train --labels /tmp/rs/labels.json --dev /tmp/rs/dev.json --out /tmp/rs/span1 --passages 1 --seeds 3
    python docs/experiments/reader-seeds/run.py score --squad /tmp/rs/dev.json /tmp/efficientqa-squad-proxy-all.json --run /tmp/rs/span1

Validation during training (best epoch, passage rule) uses the dev paragraphs (EfficientQA questions
1-300, the ones `rag train-reader --validation` holds out), never the stand-in (from question 301).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np  # noqa: E402

from rag.jobs.reader_training import read_squad  # noqa: E402
from retrievers.reader import Reader, Reading  # noqa: E402
from retrievers.reader.labels import ReaderExample  # noqa: E402
from retrievers.reader.evaluation import rule_outcomes, summarize  # noqa: E402
from retrievers.reader.training import (  # noqa: E402
    ReaderTrainConfig, _load_state, _state, average_states, train_reader)


def squad_items(path: str) -> list[tuple[str, list[str], list[str]]]:
    """(question, answers, [its gold paragraph]) per answerable question of a SQuAD-format file."""
    return [(question, [a for a, _ in answers], [context]) for _, context, question, answers in read_squad(path)]


def label(args: argparse.Namespace) -> None:
    from rag.config import Settings
    from rag.jobs.reader_training import _labelled, _Retrieval

    settings = Settings(collection=args.collection)
    retrieve = _Retrieval(settings, args.collection)
    ns = argparse.Namespace(depth=args.depth, limit=None, max_positives=2, validation=None, validation_fraction=0.0,
                            read=10, seed=42)
    try:
        examples, _, line = _labelled(retrieve, Path(args.qa), ns, 3, True)
    finally:
        retrieve.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"labelled": line, "examples": [asdict(e) for e in examples]}), encoding="utf-8")
    print(f"{len(examples)} examples -> {args.out}")


def train(args: argparse.Namespace) -> None:
    data = json.loads(Path(args.labels).read_text(encoding="utf-8"))
    examples = [ReaderExample(e["question"], e["answers"], [(c, [tuple(s) for s in spans]) for c, spans in e["positives"]],
                              e["negatives"]) for e in data["examples"]]
    dev = squad_items(args.dev)
    dev_questions = {q for q, _, _ in dev}
    examples = [e for e in examples if e.question not in dev_questions]
    if args.every_positive:  # one example per positive passage, so an epoch reads them all
        examples = [ReaderExample(e.question, e.answers, [p], e.negatives) for e in examples for p in e.positives]
    print(f"training on {len(examples)} examples")
    config = ReaderTrainConfig(passages=args.passages, epochs=args.epochs, seeds=args.seeds, seed=args.seed,
                               learning_rate=args.learning_rate)
    out = Path(args.out)

    def keep(i: int, reader: Reader) -> None:
        reader.save(out / f"member-{i}")

    result = train_reader(examples, out / "averaged", config, validation=dev, log=print, on_member=keep)
    print(json.dumps({"seconds": result.seconds, "members": result.members, "averaged": result.soup}, indent=1))


class LogitEnsemble:
    """Readers read together, their start, end and selection logits averaged (scored like one reader)."""

    def __init__(self, readers: list[Reader]) -> None:
        self.readers = readers

    def eval(self) -> None:
        for reader in self.readers:
            reader.eval()

    def score(self, question: str, contexts: list[str]) -> Reading:
        readings = [r.score(question, contexts) for r in self.readers]
        first = readings[0]
        return Reading(first.contexts, *(np.mean([getattr(x, k) for x in readings], axis=0)
                                         for k in ("start", "end", "select")),
                       first.offsets, first.mask, first.max_answer_tokens)


def score(args: argparse.Namespace) -> None:
    sets = {Path(p).name: squad_items(p) for p in args.squad}
    print("| reader | " + " | ".join(f"{name} ({len(items)}) EM / F1" for name, items in sets.items()) + " |")
    print("|---|" + "---|" * len(sets))

    def row(name: str, reader: Reader | LogitEnsemble) -> None:
        cells = []
        for items in sets.values():
            s = summarize(rule_outcomes(reader, items, ["retriever"])["retriever"])
            cells.append(f"{s['em']:.1f} / {s['f1']:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)

    if args.soup:  # one reader: the averaged weights of every member of every run (all share one start)
        members = [m for run in args.run for m in sorted(Path(run).glob("member-*"))]
        reader = Reader(members[0])
        _load_state(reader, average_states([_state(Reader(m)) for m in members]))
        row(f"averaged weights of {len(members)} members of " + ", ".join(Path(r).name for r in args.run), reader)
        return
    for run in args.run:
        members = sorted(Path(run).glob("member-*"))
        loaded: dict = {m.name: Reader(m) for m in members}
        if (Path(run) / "averaged").is_dir():
            loaded["averaged weights"] = Reader(Path(run) / "averaged")
        if len(members) > 1:
            loaded["averaged logits"] = LogitEnsemble([loaded[m.name] for m in members])
        for name, reader in loaded.items():
            row(f"{Path(run).name} {name}", reader)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("label")
    p.add_argument("--qa", required=True)
    p.add_argument("-c", "--collection", default="wiki-vital")
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--out", required=True)
    p = sub.add_parser("train")
    p.add_argument("--labels", required=True)
    p.add_argument("--dev", required=True, help="SQuAD-format dev paragraphs (validation)")
    p.add_argument("--out", required=True)
    p.add_argument("--passages", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--every-positive", action="store_true", help="an example per positive passage")
    p = sub.add_parser("score")
    p.add_argument("--squad", nargs="+", required=True)
    p.add_argument("--run", nargs="+", required=True, help="output folders of `train`")
    p.add_argument("--soup", action="store_true", help="score one reader: all the runs' members averaged")
    args = parser.parse_args()
    {"label": label, "train": train, "score": score}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
