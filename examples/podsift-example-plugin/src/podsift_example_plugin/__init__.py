"""An example third-party policy plugin for podsift (see README.md)."""

from podsift_example_plugin.capacity import CapacityAnnotation
from podsift_example_plugin.label import PreferLabel, RequireLabel

__all__ = ["CapacityAnnotation", "PreferLabel", "RequireLabel"]
