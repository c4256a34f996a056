"""automtl."""

from __future__ import annotations

from automtl._lazy import lazy_getattr

#: public name -> module that defines it; imported on first access so ``import automtl`` stays
#: light (torch is loaded only when a training name is used)
_LAZY: dict[str, str] = {
    "Trainer": "automtl.training.trainer",
    "TrainResult": "automtl.training.result",
    "build_model": "automtl.models",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
