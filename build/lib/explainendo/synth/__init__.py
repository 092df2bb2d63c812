"""Synthetic endoscopy phantoms with known ground truth (gastric, colon, ERCP, EUS).

>>> from explainendo.synth import generate
>>> phantoms = generate("gastric", 8, seed=0, size=256)
>>> phantoms.table[["image", "patient", "label", "attr.tone"]].head()  # doctest: +SKIP
>>> phantoms.bayes_rate  # doctest: +SKIP

See ``docs/phantoms.md`` for what each generator draws and the rules behind its labels. The names below
load on first use, so ``import explainendo.synth`` (e.g. by the command line) stays cheap.
"""

from __future__ import annotations

import importlib

SYSTEMS = ("gastric", "colon", "ercp", "eus")

_LAZY = {
    "GENERATORS": ".phantoms", "generator_options": ".phantoms", "PhantomSet": ".phantoms",
    "generate": ".phantoms", "make_phantoms": ".phantoms",
    "LogisticRule": ".rules", "OrdinalLogisticRule": ".rules", "sample_attributes": ".rules",
}

__all__ = ["SYSTEMS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
