"""The process environment switches this project needs, in one place: offline model hubs, no telemetry,
no progress bars, and tokenizers that do not fork threads under our own.

`quiet_offline()` sets each one unless the user already set it; every entry point that loads a library
which reads them calls it first (setting them again is free), so a LlamaIndex app that only imports our
retrievers gets them as `rag` does.
"""

from __future__ import annotations

import os

SWITCHES = {
    "HF_HUB_OFFLINE": "1",  # a missing model file fails fast instead of hanging on the network
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # its threads would fight torch's for the cores
    "WANDB_DISABLED": "true",  # sentence-transformers' trainer would report to Weights & Biases
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm: no fetch of the price list
    "LITELLM_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
}


def quiet_offline() -> None:
    """Set every switch in `SWITCHES` that the environment does not set already."""
    for name, value in SWITCHES.items():
        os.environ.setdefault(name, value)
