"""Feature sources that are not the gastric heads or handcrafted extractors: table columns, a CNN's score."""

from .columns import ColumnFeatures
from .deep_score import DeepScoreFeatures

__all__ = ["ColumnFeatures", "DeepScoreFeatures"]
