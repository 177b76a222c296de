"""podsift: a fast, pluggable Kubernetes scheduler extender."""
