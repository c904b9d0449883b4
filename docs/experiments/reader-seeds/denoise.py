"""Drop distantly labelled positives that share too few words with their question (a denoising test).

Distant supervision calls any retrieved passage holding the answer string a positive, so "how many
gold medals did australia win in the 2000 olympics" -> "16" labels a Michael Phelps passage. This
keeps a positive passage only when it holds at least `--min-overlap` of the question's content words
(stemmed, English stopwords and the answer's own words left out); questions left without a positive
are dropped. Output has the format of `run.py label`, so `run.py train --labels` reads it.

    python docs/experiments/reader-seeds/denoise.py /tmp/rs/labels50.json /tmp/rs/labels50-o1.json --min-overlap 1
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_stem = Stemmer.Stemmer("english").stemWord
_STOP = set(STOPWORDS_EN)


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"\w+", text.lower()) if w not in _STOP}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels")
    parser.add_argument("out")
    parser.add_argument("--min-overlap", type=int, default=1)
    args = parser.parse_args()
    data = json.loads(Path(args.labels).read_text(encoding="utf-8"))
    kept = []
    for example in data["examples"]:
        words = content_words(example["question"]) - set().union(*(content_words(a) for a in example["answers"]))
        positives = [p for p in example["positives"] if len(words & content_words(p[0])) >= args.min_overlap]
        if positives:
            kept.append({**example, "positives": positives})
    print(f"{len(data['examples'])} -> {len(kept)} questions, {sum(len(e['positives']) for e in kept)} positives")
    Path(args.out).write_text(json.dumps({**data, "examples": kept}), encoding="utf-8")


if __name__ == "__main__":
    main()
