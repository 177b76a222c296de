"""The ImageLocality policy (see README.md beside this file)."""

from policies.image_locality.image_locality import ImageLocality

__all__ = ["ImageLocality"]
