"""podsift: a fast, pluggable Kubernetes scheduler extender.

Plugin authors import `extender.api` (and `extender.testing` in tests); the
rest is internal, one package per layer, imports running down the list:

- `cli`, `server`, `inprocess`: the composition root;
- `wire`: HTTP and the extender protocol;
- `engine` (runs the policies) and `live` (list+watch of a real cluster);
- `api`, `testing`: the public plugin surface;
- `framework`: what a policy is, the registry, the checks of its answers;
- `cache`: the cluster state and the views policies read;
- `model`: parsed Kubernetes objects and their rules.

docs/ARCHITECTURE.md has the map; `lint-imports` enforces it.
"""
