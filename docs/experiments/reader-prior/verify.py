"""Can the embedded LLM pick among the reader's spans better than the reader alone?

SmolLM2-135M answers badly when it generates (F1 6 on the stand-in), but scoring is easier than
generating: for each of the reader's k best spans, the LLM's log-probability of giving that span as
its answer (chat prompt: paragraph + question; the span as the assistant's reply). Each span is then
rescored as log softmax(reader score) + w * mean token log-probability under the LLM.

    python docs/experiments/reader-prior/verify.py --reader models/reader-nq-seeds
"""

from __future__ import annotations

import argparse
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
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0, 1000.0)


def prompt(context: str, question: str) -> str:
    return ("<|im_start|>system\nAnswer the question with a short phrase copied from the passage.<|im_end|>\n"
            f"<|im_start|>user\nPassage: {context}\n\nQuestion: {question}<|im_end|>\n<|im_start|>assistant\n")


def span_logprob(llm, head: list[int], answer: str) -> tuple[float, float]:
    """(sum, mean) log-probability of `answer` + end-of-turn after the prompt tokens `head`, which
    must already be evaluated (their cache is kept; only the answer's tokens are evaluated)."""
    tail = llm.tokenize((answer + "<|im_end|>").encode(), add_bos=False, special=True)
    tokens = head + tail
    llm.n_tokens = len(head)
    llm.eval(tail)
    logits = np.asarray(llm.scores[len(head) - 1:len(tokens) - 1], dtype=np.float64)
    logits = logits - logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = logp[np.arange(len(tail)), tail]
    return float(picked.sum()), float(picked.mean())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reader", nargs="+", required=True)
    parser.add_argument("-k", type=int, nargs="+", default=[5])
    parser.add_argument("--sum", action="store_true", help="also the summed (not length-normalised) log-probability")
    args = parser.parse_args()
    from llama_cpp import Llama

    from rag.llm import resolve_gguf

    llm = Llama(model_path=str(resolve_gguf("smollm2")), n_ctx=2048, n_threads=2, logits_all=True, verbose=False)
    kinds = ("mean", "sum") if args.sum else ("mean",)
    print("| reader | set | k | oracle of k | " + " | ".join(f"w={w:g} ({kind})" for kind in kinds for w in WEIGHTS)
          + " | w=1: better / worse |")
    print("|---|---|---|---|" + "---|" * (len(kinds) * len(WEIGHTS) + 1))
    for path in args.reader:
        reader = Reader(path)
        for name, file in SETS.items():
            items = squad_items(file)
            rows = []  # per question: the k best spans' F1, reader log-softmax, LLM (sum, mean) log-probs
            for question, answers, (context,) in items:
                spans = reader.score(question, [context]).best("retriever", max(args.k))
                if not spans:
                    rows.append(None)
                    continue
                head = llm.tokenize(prompt(context, question).encode(), add_bos=False, special=True)
                llm.reset()
                llm.eval(head)
                rows.append(([max(_f1(s.text, g) for g in answers) for s in spans], np.array([s.score for s in spans]),
                             np.array([span_logprob(llm, head, s.text) for s in spans])))
            for k in args.k:
                totals = np.zeros(len(kinds) * len(WEIGHTS))
                oracle = 0.0
                better = worse = 0
                for row in rows:
                    if row is None:
                        continue
                    f1, scores, lp = row[0][:k], row[1][:k], row[2][:k]
                    oracle += max(f1)
                    base = scores - scores.max() - np.log(np.exp(scores - scores.max()).sum())
                    for i, kind in enumerate(kinds):
                        for j, w in enumerate(WEIGHTS):
                            totals[i * len(WEIGHTS) + j] += f1[int(np.argmax(base + w * lp[:, 1 - i]))]
                    checked = f1[int(np.argmax(base + lp[:, 1]))]
                    better += checked > f1[0]
                    worse += checked < f1[0]
                cells = " | ".join(f"{100 * t / len(items):.1f}" for t in totals)
                print(f"| {path} | {name} | {k} | {100 * oracle / len(items):.1f} | {cells} | {better} / {worse} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
