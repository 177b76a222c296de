"""The parsed model: Kubernetes objects reduced to what scheduling reads, and their rules.

The bottom layer: it imports nothing else of podsift."""
