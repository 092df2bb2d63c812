"""Synthetic endoscopy phantoms with known ground truth (gastric, colon, ERCP, EUS).

>>> from explainendo.synth import generate
>>> phantoms = generate("gastric", 8, seed=0, size=256)
>>> phantoms.table[["image", "patient", "label", "attr.tone"]].head()  # doctest: +SKIP
>>> phantoms.bayes_rate  # doctest: +SKIP

See ``docs/phantoms.md`` for what each generator draws and the rules behind its labels.
"""

from .phantoms import GENERATORS, PhantomSet, generate, make_phantoms
from .rules import LogisticRule, OrdinalLogisticRule, sample_attributes

SYSTEMS = ("gastric", "colon", "ercp", "eus")

__all__ = ["GENERATORS", "LogisticRule", "OrdinalLogisticRule", "PhantomSet", "SYSTEMS", "generate",
           "make_phantoms", "sample_attributes"]
