"""Image and dataset input: safe image reading, manifests, loaders for common formats, group-wise splits."""

from .image import read_image, read_image_size
from .manifest import Manifest, Problem, ValidationReport

__all__ = ["read_image", "read_image_size", "Manifest", "Problem", "ValidationReport"]
