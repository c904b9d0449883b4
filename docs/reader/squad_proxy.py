"""Build a SQuAD-format stand-in for the reader's benchmark from NQ-open questions and wiki-vital passages.

Issue 9's target is set on a SQuAD-format set with gold paragraphs, and none is available here (no
SQuAD data on PyPI or in ../shared). This makes the closest thing from what is: EfficientQA dev
questions kept by the nq-vital rule (answers in 1 to 5 corpus passages), each paired with DPR's
silver gold paragraph, the highest-ranked BM25 passage that holds a normalised answer. Questions
the reader's training or model selection saw are left out: `rag train-reader --validation` uses the
file's first 300 questions, so this starts at question 301.

    python docs/reader/squad_proxy.py --qa ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl \
        --out /tmp/efficientqa-squad-proxy.json
    rag eval answers --dataset squad:/tmp/efficientqa-squad-proxy.json --reader DIR --report DIR

Silver paragraphs are noisy: an answer string often occurs in a passage on something else ("Adele"
in Gustav Klimt's, for "who sings we could have had it all"). So the set is cut to the questions
whose paragraph was read and found to state the answer (`VERIFIED`, by question number: 35 of the
197 built; a paragraph from which the answer must be inferred, or that holds the string in another
sense, is out). `--all` keeps the 197.

The file goes to /tmp, not the repository: it holds Wikipedia text (CC BY-SA) built from ../shared.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag.documents.loaders import _wiki_vital_file  # noqa: E402
from retrievers.answer_text import has_answer, normalize, read_qa  # noqa: E402
from retrievers.stores import BM25Index  # noqa: E402


# Question numbers (read_qa order, from 1) whose silver paragraph states the answer, checked by reading.
VERIFIED = frozenset({
    385, 389, 422, 438, 453, 509, 531, 557, 658, 698, 734, 744, 780, 995, 1005, 1071, 1134, 1159, 1202, 1207,
    1229, 1232, 1288, 1335, 1414, 1440, 1488, 1500, 1515, 1532, 1555, 1605, 1646, 1693, 1769,
})


def answer_start(context: str, answers: list[str]) -> tuple[str, int] | None:
    """The first answer that occurs in the raw text (case-insensitive), as it is written there."""
    for answer in answers:
        words = [re.escape(w) for w in answer.split()]
        if not words:
            continue
        match = re.search(r"(?<!\w)" + r"\W+".join(words) + r"(?!\w)", context, flags=re.IGNORECASE)
        if match:
            return match.group(0), match.start()
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", required=True, help="EfficientQA dev jsonl")
    parser.add_argument("--out", required=True)
    parser.add_argument("--skip", type=int, default=300, help="leading questions left out (seen in model selection)")
    parser.add_argument("--stop", type=int, help="last question used (default: the end of the file)")
    parser.add_argument("--max-answer-passages", type=int, default=5)
    parser.add_argument("--all", action="store_true", help="keep every question, not only the VERIFIED ones")
    args = parser.parse_args()

    summaries = json.loads(_wiki_vital_file().read_text(encoding="utf-8"))
    titles = sorted(summaries)
    texts = [f"{t}. {summaries[t]['extract']}" for t in titles]
    normalized = [normalize(t) for t in texts]
    bm25 = BM25Index.build([str(i) for i in range(len(texts))], texts)
    articles: dict[int, dict] = {}
    kept = 0
    raw: dict[str, list[str]] = {}  # read_qa's answers are normalised; SQuAD keeps them as written
    with open(args.qa, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                raw.setdefault(" ".join(record["question"].split()), list(record["answer"]))
    for n, q in enumerate(read_qa(args.qa, strict=True).questions[args.skip : args.stop], start=args.skip + 1):
        if not args.all and n not in VERIFIED:
            continue
        holding = [i for i, t in enumerate(normalized) if has_answer(q.answers, t)]
        if not 1 <= len(holding) <= args.max_answer_passages:
            continue
        scores = bm25.score(q.question, [str(i) for i in holding])
        best = max(holding, key=lambda i: (scores.get(str(i), 0.0), -i))
        written = raw.get(" ".join(q.question.split()), [])
        found = answer_start(texts[best], written)
        if found is None:  # matches only after normalisation (accents, punctuation): no exact offset to give
            continue
        text, start = found
        article = articles.setdefault(best, {"title": titles[best], "paragraphs": [{"context": texts[best], "qas": []}]})
        article["paragraphs"][0]["qas"].append({
            "id": f"efficientqa-{n}", "question": q.question,
            "answers": [{"text": text, "answer_start": start}] + [{"text": a, "answer_start": -1} for a in written
                                                                  if normalize(a) != normalize(text)]})
        kept += 1
    out = {"version": "efficientqa-wiki-vital-proxy", "data": list(articles.values())}
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{kept} questions over {len(articles)} gold paragraphs -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
