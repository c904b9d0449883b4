"""LoRA deltas (Hu et al. 2021) on a BERT-style encoder: trained small, shipped small, merged on load.

Training attaches adapters through peft (`add_lora`); what is kept is only the low-rank matrices
(`lora_state`), a few MB where the full encoder is 90. Loading needs no peft: `merge_lora` adds
`scale * B @ A` to each adapted weight of a plain base model, so a shipped delta becomes an ordinary
model that every backend (torch, ONNX, worker processes) loads like any other.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ModelNotFound

ADAPTER_FILE = "lora_adapter.safetensors"
ADAPTER_CONFIG = "lora.json"
# BERT's attention projections and its three dense layers (attention output, intermediate, output).
DEFAULT_TARGETS = ("query", "key", "value", "dense")


@dataclass(frozen=True)
class LoraSpec:
    """Rank, scaling and target layers of a LoRA delta; `scale` = alpha / rank multiplies B @ A."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    targets: tuple[str, ...] = field(default=DEFAULT_TARGETS)

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def to_dict(self) -> dict:
        return {**asdict(self), "targets": list(self.targets)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LoraSpec":
        return cls(
            rank=int(data["rank"]),
            alpha=float(data["alpha"]),
            dropout=float(data.get("dropout", 0.0)),
            targets=tuple(data.get("targets", DEFAULT_TARGETS)),
        )


def add_lora(model: Any, spec: LoraSpec) -> Any:
    """Attach a trainable LoRA adapter to a torch model in place (peft); only the adapter trains.

    peft's `inject_adapter_in_model` is used rather than transformers' `add_adapter`, which asks for
    a newer peft than PyPI has.
    """
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as exc:  # training only: loading a delta needs no peft
        raise ModelNotFound("LoRA training needs peft: pip install peft") from exc
    config = LoraConfig(
        r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=list(spec.targets), bias="none"
    )
    inject_adapter_in_model(config, model)
    for name, param in model.named_parameters():
        param.requires_grad = ".lora_" in name
    return model


def lora_state(model: Any) -> dict[str, Any]:
    """The adapter's A and B matrices, keyed like the base weights (`...query.lora_A.weight`)."""
    state = {}
    for name, tensor in model.state_dict().items():
        if ".lora_A." in name or ".lora_B." in name:
            key = name.replace(".default", "")
            state[key] = tensor.detach().to("cpu").contiguous().clone()
    return state


def merge_lora(model: Any, state: Mapping[str, Any], spec: LoraSpec) -> int:
    """Add `scale * B @ A` of every pair in `state` to `model`'s matching weight; returns how many merged.

    A pair whose base weight is missing or of another shape means the delta belongs to another model.
    """
    import torch

    params = dict(model.named_parameters())
    merged = 0
    for key, a in state.items():
        if ".lora_A." not in key:
            continue
        stem = key.split(".lora_A.")[0]
        b = state.get(f"{stem}.lora_B.weight")
        target = params.get(f"{stem}.weight")
        if b is None or target is None or tuple(target.shape) != (b.shape[0], a.shape[1]):
            raise ModelNotFound(f"the LoRA delta does not fit this base model (layer {stem})")
        with torch.no_grad():
            target.add_((b.float() @ a.float()).to(target.dtype) * spec.scale)
        merged += 1
    if merged == 0:
        raise ModelNotFound("the LoRA delta holds no adapted layer")
    return merged


def concatenate(states: list[Mapping[str, Any]], spec: LoraSpec) -> tuple[dict[str, Any], LoraSpec]:
    """One delta equal to the mean of several (a rank-N*r adapter): average of B_i @ A_i, exactly.

    Averaging A and B separately would not average the deltas, since B @ A is not linear in both.
    """
    import torch

    n = len(states)
    if n == 1:
        return dict(states[0]), spec
    out = {}
    for key in states[0]:
        if ".lora_A." in key:
            out[key] = torch.cat([s[key] for s in states], dim=0)
        else:
            out[key] = torch.cat([s[key] for s in states], dim=1) / n
    return out, LoraSpec(rank=spec.rank * n, alpha=spec.alpha * n, dropout=spec.dropout, targets=spec.targets)


def save_delta(directory: str | Path, state: Mapping[str, Any], spec: LoraSpec) -> None:
    """Write the adapter (fp16 safetensors) and its spec beside a model."""
    import torch
    from safetensors.torch import save_file

    directory = Path(directory)
    save_file({k: v.to(torch.float16).contiguous() for k, v in state.items()}, str(directory / ADAPTER_FILE))
    (directory / ADAPTER_CONFIG).write_text(json.dumps(spec.to_dict(), indent=2), encoding="utf-8")


def load_delta(directory: str | Path) -> tuple[dict[str, Any], LoraSpec]:
    """Read what `save_delta` wrote."""
    from safetensors.torch import load_file

    directory = Path(directory)
    try:
        spec = LoraSpec.from_dict(json.loads((directory / ADAPTER_CONFIG).read_text(encoding="utf-8")))
        state = load_file(str(directory / ADAPTER_FILE))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelNotFound(f"cannot read the LoRA delta in {directory}: {exc}") from None
    return state, spec
