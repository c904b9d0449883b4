"""Can priors learnt from far more supervision than the reader's fix its span choices?

The reader is trained on ~900 distantly labelled questions; its commonest error is a span of the
wrong kind (a stray number for a "who" question). Two priors need no extra reader training and use
the encoder for what it was trained on:

- **answer shape**: P(shape | question), shape in year / date / number / name / other, a softmax
  regression on the question's MiniLM embedding and wh-words, fitted on all 3,610 NQ-open dev questions and their
  gold answers (four times the questions the reader learns from; no passages needed);
- **answer sentence**: softmax over the paragraph's sentences of cos(question, sentence) / T, T
  fitted on the distantly labelled positives (the sentences that hold the answer string).

Candidates are the reader's 30 best spans (overlapping allowed); each is rescored as
log softmax(reader score) + w_shape * log P(shape) + w_sentence * log P(sentence). Weights are
declared in advance (1, the plain product of the three models) and the grid is only reported.

    python docs/experiments/reader-prior/run.py --reader models/reader-nq-seeds --labels /tmp/rs/labels50.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reader-seeds"))

import numpy as np  # noqa: E402

from run import squad_items  # noqa: E402

from retrievers.reader import Reader  # noqa: E402
from retrievers.reader.training import _f1  # noqa: E402

SETS = {"dev (35)": "/tmp/rs/dev.json", "test, all 197": "/tmp/efficientqa-squad-proxy-all.json",
        "test, verified 35": "/tmp/efficientqa-squad-proxy.json"}
SHAPES = ("year", "date", "number", "name", "other")
MONTHS = ("january february march april may june july august september october november december "
          "jan feb mar apr jun jul aug sep sept oct nov dec").split()
NUMBER_WORDS = set("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                   "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
                   "ninety hundred thousand million billion trillion dozen first second third fourth fifth "
                   "sixth seventh eighth ninth tenth half".split())
SMALL = {"of", "the", "and", "de", "von", "van", "la", "le", "du", "in", "on", "for", "a", "an", "&", "to", "at"}
WH = ("who", "when", "where", "what", "which", "how many", "how much", "how long", "how", "why", "whom", "whose")
CANDIDATES = 30
SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")


def shape(text: str) -> str:
    """The kind of an answer string, from its surface form."""
    words = re.findall(r"[\w'’.-]+", text)
    lower = [w.lower().strip(".") for w in words]
    if not words:
        return "other"
    if re.fullmatch(r"(?:(?:in|the|early|late|mid|c\.?)\s+)*(?:1\d{3}|20\d{2})s?", text.strip().lower()):
        return "year"
    if any(w in MONTHS for w in lower) and any(re.search(r"\d", w) for w in words) or "century" in lower:
        return "date"
    if any(re.search(r"\d", w) for w in words) or any(w in NUMBER_WORDS for w in lower):
        return "number"
    content = [w for w in words if w.lower() not in SMALL]
    if content and all(w[0].isupper() for w in content):
        return "name"
    return "other"


def wh(question: str) -> np.ndarray:
    q = f" {question.lower()} "
    return np.array([f" {w} " in q for w in WH], dtype=np.float32)


def fit_shape_model(encoder, questions: list[str], answers: list[list[str]], seed: int = 0):
    """Softmax regression from [embedding, wh-words] to the majority shape of the gold answers; reports
    held-out accuracy (the last 10%) against the majority class."""
    import torch

    labels = []
    for group in answers:
        kinds = [shape(a) for a in group]
        labels.append(SHAPES.index(max(SHAPES, key=kinds.count)))
    x = np.hstack([encoder.encode(questions, batch_size=128, normalize_embeddings=True),
                   np.stack([wh(q) for q in questions])])
    y = np.array(labels)
    cut = int(0.9 * len(y))
    torch.manual_seed(seed)
    model = torch.nn.Linear(x.shape[1], len(SHAPES))
    opt = torch.optim.LBFGS(model.parameters(), max_iter=200)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def closure(n: int):
        def step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[:n]), yt[:n]) + 1e-3 * model.weight.pow(2).sum()
            loss.backward()
            return loss
        return step

    opt.step(closure(cut))
    with torch.no_grad():
        accuracy = float((model(xt[cut:]).argmax(-1) == yt[cut:]).float().mean())
    majority = float(np.mean(y[cut:] == np.bincount(y[:cut]).argmax()))
    counts = {s: int((y == i).sum()) for i, s in enumerate(SHAPES)}
    print(f"shape model: {counts}; held-out accuracy {accuracy:.3f} (majority class {majority:.3f})")
    opt = torch.optim.LBFGS(model.parameters(), max_iter=200)
    opt.step(closure(len(y)))  # refit on everything for use

    def predict(question: str) -> np.ndarray:
        feats = np.hstack([encoder.encode([question], normalize_embeddings=True)[0], wh(question)])
        with torch.no_grad():
            return torch.log_softmax(model(torch.tensor(feats)[None]), -1)[0].numpy()
    return predict


def sentences(context: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in SENTENCE.finditer(context) if m.group().strip()]


def fit_temperature(encoder, examples: list[dict], limit: int = 600) -> float:
    """T maximising the likelihood of the answer-holding sentences of the labelled positives."""
    rows = []
    for ex in examples[:limit]:
        context, spans = ex["positives"][0]
        bounds = sentences(context)
        if len(bounds) < 2:
            continue
        gold = [i for i, (a, b) in enumerate(bounds) if any(a <= s < b for s, _ in spans)]
        if not gold:
            continue
        vecs = encoder.encode([ex["question"]] + [context[a:b] for a, b in bounds], normalize_embeddings=True)
        rows.append((vecs[1:] @ vecs[0], gold))
    best = None
    for t in (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0):
        ll = 0.0
        for cos, gold in rows:
            z = cos / t
            z = z - z.max()
            ll += np.log(np.exp(z[gold]).sum()) - np.log(np.exp(z).sum())
        if best is None or ll > best[1]:
            best = (t, ll)
    chance = float(np.mean([len(g) / len(c) for c, g in rows]))
    top = float(np.mean([int(np.argmax(c)) in g for c, g in rows]))
    print(f"sentence prior: T={best[0]} on {len(rows)} positives; top sentence holds the answer {top:.3f} "
          f"(chance {chance:.3f})")
    return best[0]


def candidates(reading, k: int = CANDIDATES) -> list[tuple[float, int, int]]:
    """The k best (score, char start, char end) spans of the first passage, overlapping allowed."""
    start, end, mask, offsets = reading.start[0], reading.end[0], reading.mask[0], reading.offsets[0]
    allowed = np.flatnonzero(mask)
    out = []
    for s in allowed:
        for e in range(s, min(len(end), s + reading.max_answer_tokens)):
            if mask[e]:
                out.append((float(start[s] + end[e]), int(offsets[s][0]), int(offsets[e][1])))
    out.sort(key=lambda c: -c[0])
    return out[:k]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reader", nargs="+", required=True)
    parser.add_argument("--labels", required=True, help="distant labels (run.py label) for the sentence temperature")
    parser.add_argument("--qa", default="../shared/data/nq-open/NQ-open.dev.jsonl")
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    from retrievers.encoders import DEFAULT_MODEL, resolve_model_path

    encoder = SentenceTransformer(str(resolve_model_path(DEFAULT_MODEL)), device="cpu")
    rows = [json.loads(line) for line in Path(args.qa).read_text(encoding="utf-8").splitlines() if line.strip()]
    predict = fit_shape_model(encoder, [r["question"] for r in rows], [r["answer"] for r in rows])
    temperature = fit_temperature(encoder, json.loads(Path(args.labels).read_text(encoding="utf-8"))["examples"])
    weights = [(0, 0), (1, 0), (0, 1), (1, 1), (0.5, 0.5), (2, 0), (0, 2), (2, 2)]
    print("| reader | set | " + " | ".join(f"shape {a}, sentence {b}" for a, b in weights) + " |")
    print("|---|---|" + "---|" * len(weights))
    for path in args.reader:
        reader = Reader(path)
        for name, file in SETS.items():
            totals = np.zeros(len(weights))
            items = squad_items(file)
            for question, answers, (context,) in items:
                reading = reader.score(question, [context])
                cands = candidates(reading)
                if not cands:
                    continue
                scores = np.array([c[0] for c in cands])
                base = scores - scores.max() - np.log(np.exp(scores - scores.max()).sum())
                log_shape = predict(question)
                shapes = np.array([log_shape[SHAPES.index(shape(context[a:b]))] for _, a, b in cands])
                bounds = sentences(context)
                vecs = encoder.encode([question] + [context[a:b] for a, b in bounds], normalize_embeddings=True)
                z = (vecs[1:] @ vecs[0]) / temperature
                log_sent = z - z.max() - np.log(np.exp(z - z.max()).sum())
                where = [next((i for i, (x, y) in enumerate(bounds) if x <= a < y), 0) for _, a, _ in cands]
                sent = log_sent[where]
                for j, (ws, wt) in enumerate(weights):
                    pick = int(np.argmax(base + ws * shapes + wt * sent))
                    _, a, b = cands[pick]
                    totals[j] += max(_f1(context[a:b].strip(), g) for g in answers)
            cells = " | ".join(f"{100 * t / len(items):.1f}" for t in totals)
            print(f"| {path} | {name} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
