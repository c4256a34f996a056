"""automtl."""

from __future__ import annotations

from typing import Any

#: public name -> module that defines it; imported on first access so ``import automtl`` stays
#: light (torch is loaded only when a training name is used)
_LAZY: dict[str, str] = {
    "Trainer": "automtl.training.trainer",
    "TrainResult": "automtl.training.result",
    "build_model": "automtl.models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'automtl' has no attribute {name!r}")
