"""The InterPodAffinity policy (see README.md beside this file)."""

from policies.inter_pod_affinity.inter_pod_affinity import InterPodAffinity

__all__ = ["InterPodAffinity"]
