"""A uniform model soup (Wortsman et al. 2022) of fine-tuned encoders that share a base: their merged weights
averaged into one sentence-transformers model. Members that are LoRA deltas on one base average to a delta of
rank at most the sum of theirs, so a soup of two rank-16 runs could ship as one rank-32 delta.

    python docs/experiments/dpr-soup/soup.py build/models/soup2 ~/.cache/rag/models/dpr-nq-<hash> build/models/dpr-nq-lr5e4
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file


def main() -> int:
    out, members = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    if out.exists():
        shutil.rmtree(out)
    ignore = shutil.ignore_patterns("lora*", "checkpoints", "rag_training.json", "model.safetensors")
    shutil.copytree(members[0], out, ignore=ignore)  # config, tokenizer, pooling: the same for every member
    weights = [load_file(str(m / "model.safetensors")) for m in members]
    soup = {k: (sum(w[k].float() for w in weights) / len(weights)).to(weights[0][k].dtype) for k in weights[0]}
    save_file(soup, str(out / "model.safetensors"), metadata={"format": "pt"})
    print(f"{out}: the mean of {', '.join(map(str, members))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
