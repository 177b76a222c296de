"""ImageLocality: favour nodes that already hold the pod's container images.

Mirrors kube-scheduler's imagelocality plugin: for every container, init
containers included, whose image the node has, add the image size scaled by
the share of the cluster's nodes holding it (so an image present everywhere
counts fully and a rare one barely, against "node heating"). The sum is
clamped to [23 MiB, 1000 MiB x number of containers] and mapped linearly onto
0..100, truncating.

Upstream computes the spread scaling as int64(float64(size) * (float64(have) /
float64(total))); here it is the exact floor(size * have / total), which
differs from the float product by at most one byte per image (see
tests/policies/test_scoring_properties.py for the effect on the score).
"""

from __future__ import annotations

import numpy as np

from extender.api import MAX_NODE_SCORE, STATIC, NodeView, PodInfo, Policy
from policies.helper.intmath import mul_div

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def calculate_priority(sums: np.ndarray, containers: int) -> np.ndarray:
    """calculatePriority: clamp to the thresholds and scale to 0..100."""
    if containers <= 0:
        return np.zeros(sums.shape, np.int64)
    max_threshold = MAX_CONTAINER_THRESHOLD * containers
    clamped = np.clip(sums, MIN_THRESHOLD, max_threshold)
    return MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


class ImageLocality(Policy):
    name = "ImageLocality"
    depends_on = STATIC  # node images, the node count and the pod's images
    takes_args = False

    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        return self.raw_score(pod, nodes)

    def raw_score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        """The score of each node on its own (ImageLocality has no NormalizeScore), so
        the engine keeps it per spec by node id, whatever nodes later pods score."""
        images = pod.init_images + pod.images
        sums = np.zeros(nodes.n, np.int64)
        total = nodes.total_nodes
        if nodes.n == 0 or total <= 0:
            return sums
        # the sum is clamped at the top threshold anyway: saturating there keeps it
        # exact and inside int64 however many huge images the pod names
        top = MAX_CONTAINER_THRESHOLD * max(len(images), 1)
        # each distinct image once, times the containers naming it: a pod of 10,000
        # containers of one image costs one column, not 10,000
        counts: dict[str, int] = {}
        for image in images:
            counts[image] = counts.get(image, 0) + 1
        for image, times in counts.items():
            have = nodes.image_spread(image)
            if have > 0:
                scaled = mul_div(nodes.image_sizes(image), have, total)
                if times > 1:  # from ceil(top / times) on, the copies reach the top
                    scaled = np.minimum(scaled, -(-top // times)) * times
                sums = np.minimum(sums + scaled, top)
        return calculate_priority(sums, len(images))
