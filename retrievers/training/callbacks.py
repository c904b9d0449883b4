"""What the DPR trainer keeps from a run besides the model: the LoRA delta of the best evaluation
(`BestDelta`) and the loss and held-out curves from the trainer's log (`curves`)."""

from __future__ import annotations

from typing import Any

from ..encoders.lora import lora_state


class BestDelta:
    """A trainer callback that keeps the LoRA delta of the best evaluation and puts it back at the end."""

    def __init__(self, module: Any, metric: str) -> None:
        from transformers import TrainerCallback

        self.module, self.metric, self.best, self.state = module, metric, None, None
        self.callback = type("BestDeltaCallback", (TrainerCallback,), {"on_evaluate": self._on_evaluate})()

    def _on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any) -> None:
        value = (metrics or {}).get(self.metric)
        if value is not None and (self.best is None or value > self.best):
            self.best, self.state = value, lora_state(self.module)

    def restore(self) -> None:
        """Put the best evaluation's adapter back (the last step's may be worse)."""
        import torch

        if self.state is None:
            return
        params = {name.replace(".default", ""): p for name, p in self.module.named_parameters() if ".lora_" in name}
        with torch.no_grad():
            for key, value in self.state.items():
                params[key].copy_(value)


def curves(log_history: list[dict]) -> tuple[list[tuple[int, float]], list[dict[str, float]]]:
    """The training loss and the held-out figures, from the trainer's log."""
    losses = [(int(row["step"]), float(row["loss"])) for row in log_history if "loss" in row]
    history = []
    for row in log_history:
        metrics = {k.removeprefix("eval_heldout_"): float(v) for k, v in row.items() if k.startswith("eval_heldout_")}
        if metrics:
            history.append({"step": int(row["step"]), "epoch": round(float(row.get("epoch") or 0), 2), **metrics})
    return losses, history
