"""The wire layer: HTTP, the extender protocol, the verbs' wire shapes, metrics.

Nothing below this layer knows about HTTP (docs/ARCHITECTURE.md)."""
