"""Feature sources that are not images: measurements from the lesion table."""

from .columns import ColumnFeatures

__all__ = ["ColumnFeatures"]
