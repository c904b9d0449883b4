"""A low-rank copy of a fully fine-tuned encoder: each adapted weight's change, truncated by SVD to rank R,
written as a LoRA delta on the base model (the layers LoRA adapts: query, key, value, dense). What a LoRA
delta cannot hold (embeddings, LayerNorms, biases) stays at the base model's values, so the result is exactly
what would ship.

    python docs/experiments/dpr-full-lowrank/extract.py build/models/dpr-nq-full build/models/full-r64 --rank 64

The output is a sentence-transformers model directory (the merged weights, for `rag reindex --encoder`) that
also holds the delta (`lora_adapter.safetensors`, `lora.json`) and a training record with the LoRA settings,
so `rag package-model` takes it like a `--lora-rank` run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from retrievers.encoders.base import resolve_model_path
from retrievers.encoders.lora import DEFAULT_TARGETS, LoraSpec, merge_lora, save_delta


def low_rank(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """B (out x r) and A (r x in) with B @ A the best rank-r approximation of `delta`, and the share of its
    squared norm kept."""
    u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
    r = min(rank, s.numel())
    root = s[:r].sqrt()
    kept = float((s[:r] ** 2).sum() / (s**2).sum()) if s.abs().sum() > 0 else 1.0
    return (u[:, :r] * root).float(), (root[:, None] * vh[:r]).float(), kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("full", type=Path, help="fully fine-tuned model directory (rag train --lora-rank 0)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--base", default="all-MiniLM-L6-v2")
    args = parser.parse_args()

    base_dir = resolve_model_path(args.base)
    base = load_file(str(base_dir / "model.safetensors"))
    tuned = load_file(str(args.full / "model.safetensors"))
    spec = LoraSpec(rank=args.rank, alpha=float(args.rank), dropout=0.0, targets=DEFAULT_TARGETS)
    state, kept, left = {}, [], 0.0
    for key, weight in tuned.items():
        delta = weight.float() - base[key].float()
        module = key.rsplit(".", 2)
        if key.endswith(".weight") and weight.dim() == 2 and module[-2] in DEFAULT_TARGETS:
            b, a, share = low_rank(delta, args.rank)
            stem = key[: -len(".weight")]
            state[f"{stem}.lora_A.weight"], state[f"{stem}.lora_B.weight"] = a, b
            kept.append(share)
        else:
            left += float(delta.pow(2).sum())
    total = sum(float((tuned[k].float() - base[k].float()).pow(2).sum()) for k in tuned)

    if args.out.exists():
        shutil.rmtree(args.out)
    ignore = shutil.ignore_patterns("model.safetensors", "checkpoints", "rag_training.json", "lora*")
    shutil.copytree(args.full, args.out, ignore=ignore)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(base_dir), device="cpu", local_files_only=True)
    merged = merge_lora(model[0].auto_model, {k: v.half() for k, v in state.items()}, spec)
    save_file(
        {k: v.contiguous() for k, v in model[0].auto_model.state_dict().items()},
        str(args.out / "model.safetensors"),
        metadata={"format": "pt"},
    )
    save_delta(args.out, state, spec)
    record = json.loads((args.full / "rag_training.json").read_text(encoding="utf-8"))
    record["lora"] = spec.to_dict()
    record["extracted"] = {"from": str(args.full), "rank": args.rank, "method": "truncated SVD of each weight's change"}
    (args.out / "rag_training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    size = (args.out / "lora_adapter.safetensors").stat().st_size / 1e6
    print(
        f"{args.out}: rank {args.rank}, {merged} layers, {size:.1f} MB; the adapted layers' change kept "
        f"{100 * sum(kept) / len(kept):.1f}% (mean, squared norm); {100 * left / total:.1f}% of the whole change "
        "is outside them (embeddings, LayerNorms, biases) and dropped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
