"""Train a cross-encoder on first-stage candidates with localized contrastive estimation (Gao et al. 2021):
each step scores groups of one answer-holding passage and G-1 passages without the answer, all from the same
retriever's top N, and minimises the softmax cross-entropy of the positive within its group. Unlike pointwise
binary cross-entropy, a constant score cannot lower this loss, so the model cannot settle on the label prior.

    python docs/experiments/reranker-lce/train_lce.py --pairs build/ce/nq-dev.jsonl --out build/ce/lce
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from retrievers.encoders import resolve_model_path  # noqa: E402


def groups_of(rows, group: int, depth: int, rng: random.Random):
    out = []
    for r in rows:
        cands = r["candidates"][:depth]
        pos = [c["text"] for c in cands if c["label"]]
        neg = [c["text"] for c in cands if not c["label"]]
        if not pos or len(neg) < group - 1:
            continue
        out.append((r["question"], rng.choice(pos), rng.sample(neg, group - 1)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--questions-per-step", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--max-length", type=int, default=192)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--lora-rank", type=int, default=0, help="train a LoRA delta (and the new head) instead of all weights")
    p.add_argument("--init", help="start the encoder from this BERT model folder (e.g. the shipped reader's, built "
                   "in ~/.cache/rag/models/reader-nq-*) instead of all-MiniLM-L6-v2")
    args = p.parse_args()

    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    rows = [json.loads(line) for line in open(args.pairs, encoding="utf-8")]
    model = CrossEncoder(str(resolve_model_path("all-MiniLM-L6-v2")), num_labels=1, max_length=args.max_length,
                         local_files_only=True, device="cpu")
    if args.init:  # the reader's encoder already reads a question against a passage
        from safetensors.torch import load_file

        missing, unexpected = model.model.bert.load_state_dict(load_file(str(Path(args.init, "model.safetensors"))),
                                                               strict=False)
        assert not unexpected and all(k.startswith("pooler.") for k in missing), (missing, unexpected)
        print(f"encoder from {args.init} ({len(missing)} pooler weights new)", file=sys.stderr, flush=True)
    if args.lora_rank:
        from retrievers.encoders.lora import LoraSpec, add_lora

        add_lora(model.model, LoraSpec(rank=args.lora_rank, alpha=2.0 * args.lora_rank))
        for name, param in model.model.named_parameters():
            if name.startswith(("classifier.", "bert.pooler.")):
                param.requires_grad = True
    trained = [p for p in model.model.parameters() if p.requires_grad]
    print(f"{sum(p.numel() for p in trained)} parameters trained", file=sys.stderr, flush=True)
    opt = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.01)
    n_groups = len(groups_of(rows, args.group, args.depth, random.Random(0)))
    if args.limit:
        n_groups = min(n_groups, args.limit)
    steps = args.epochs * -(-n_groups // args.questions_per_step)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, 1 - s / steps))
    print(f"{n_groups} groups of {args.group}, {steps} steps", file=sys.stderr, flush=True)
    started, step, log = time.perf_counter(), 0, []
    model.model.train()
    for epoch in range(args.epochs):
        groups = groups_of(rows, args.group, args.depth, rng)  # fresh negatives and positive each epoch
        rng.shuffle(groups)
        groups = groups[: args.limit or None]
        total, correct = 0.0, 0
        for start in range(0, len(groups), args.questions_per_step):
            batch = groups[start : start + args.questions_per_step]
            qs = [q for q, pos, negs in batch for _ in range(args.group)]
            ps = [t for q, pos, negs in batch for t in [pos, *negs]]
            inputs = model.tokenizer(qs, ps, padding=True, truncation="only_second", max_length=args.max_length,
                                     return_tensors="pt")
            logits = model.model(**inputs).logits.view(len(batch), args.group)
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
            opt.step()
            sched.step()
            step += 1
            total += float(loss.detach()) * len(batch)
            correct += int((logits.argmax(1) == 0).sum())
            if step % 50 == 0:
                print(f"step {step}/{steps} loss {total / (start + len(batch)):.3f} "
                      f"acc {correct / (start + len(batch)):.3f} {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)
        log.append({"epoch": epoch + 1, "loss": round(total / len(groups), 4), "train_acc": round(correct / len(groups), 4)})
        print(log[-1], file=sys.stderr, flush=True)
    model.model.eval()
    if args.lora_rank:  # merge the delta onto a fresh copy, so the output is a plain CrossEncoder directory
        from retrievers.encoders.lora import lora_state, merge_lora

        state = lora_state(model.model)
        heads = {k.replace(".base_layer.", "."): v for k, v in model.model.state_dict().items()
                 if k.startswith(("classifier.", "bert.pooler.")) and ".lora_" not in k}
        probe = model.tokenizer(["a question"], ["a passage about it"], return_tensors="pt")
        expected = float(model.model(**probe).logits[0, 0])
        Path(args.out).mkdir(parents=True, exist_ok=True)
        torch.save({"lora": state, "heads": heads}, Path(args.out, "delta.pt"))
        model = CrossEncoder(str(resolve_model_path("all-MiniLM-L6-v2")), num_labels=1, max_length=args.max_length,
                             local_files_only=True, device="cpu")
        missing, unexpected = model.model.load_state_dict(heads, strict=False)  # the heads first: the pooler has a delta too
        assert not unexpected, unexpected
        merged = merge_lora(model.model, state, LoraSpec(rank=args.lora_rank, alpha=2.0 * args.lora_rank))
        model.model.eval()
        got = float(model.model(**probe).logits[0, 0])
        print(f"{merged} weights merged; probe logit {expected:.5f} trained, {got:.5f} merged", file=sys.stderr, flush=True)
    model.save(args.out)
    Path(args.out, "lce.json").write_text(json.dumps({"args": vars(args), "epochs": log,
                                                      "seconds": round(time.perf_counter() - started, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
