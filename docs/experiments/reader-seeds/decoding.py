"""Two decoding changes tried on trained readers, on gold paragraphs: a shorter answer limit, and skipping
spans made only of the question's words (the reader's commonest visible error: "Bacon" for "what method
of preservation is used in making bacon").

For each reader and set, F1 of the best span at each `max_answer_tokens`, then (at the saved limit) of
the best of the top 10 spans that holds a word not in the question:

    python docs/experiments/reader-seeds/decoding.py /tmp/rs/span1/averaged /tmp/rs/allpos/averaged
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import squad_items  # noqa: E402

from retrievers.answer_text import normalize  # noqa: E402
from retrievers.reader import Reader  # noqa: E402
from retrievers.reader.training import _f1  # noqa: E402

SETS = {"dev (35)": "/tmp/rs/dev.json", "test, all 197": "/tmp/efficientqa-squad-proxy-all.json",
        "test, verified 35": "/tmp/efficientqa-squad-proxy.json"}
LIMITS = (3, 5, 7, 10)


def main() -> int:
    sets = {name: squad_items(path) for name, path in SETS.items()}
    print("| reader | set | " + " | ".join(f"F1, at most {n} tokens" for n in LIMITS) + " | question words skipped |")
    print("|---|---|" + "---|" * (len(LIMITS) + 1))
    for path in sys.argv[1:]:
        reader = Reader(path)
        saved = reader.max_answer_tokens
        for name, items in sets.items():
            readings = [(reader.score(q, c), q, answers) for q, answers, c in items]
            cells = []
            for limit in LIMITS:
                total = 0.0
                for reading, _, answers in readings:
                    reading.max_answer_tokens = limit
                    spans = reading.best("retriever")
                    total += max(_f1(spans[0].text, a) for a in answers) if spans else 0.0
                cells.append(f"{100 * total / len(items):.1f}")
            total = 0.0
            for reading, question, answers in readings:
                reading.max_answer_tokens = saved
                spans = reading.best("retriever", 10)
                words = set(normalize(question).split())
                pick = next((s for s in spans if not set(normalize(s.text).split()) <= words), spans[0] if spans else None)
                total += max(_f1(pick.text, a) for a in answers) if pick else 0.0
            cells.append(f"{100 * total / len(items):.1f}")
            print(f"| {path} | {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
