"""Full-GC pause after N distinct pods filtered and never bound.

    python -m bench.gcpause 100000            # as served: long-lived pods frozen
    python -m bench.gcpause 100000 --no-freeze  # as before issue 10: never frozen

Prints the shortest of three full `gc.collect()` calls: the pause a request
pays when the collector runs a full pass during it.
"""

from __future__ import annotations

import argparse
import gc
import time

from extender.cache import gcpolicy
from extender.testing import _state, make_pod, node, pod


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pods", type=int)
    parser.add_argument("--no-freeze", action="store_true")
    args = parser.parse_args()
    if args.no_freeze:
        gcpolicy.FreezeAfter.note = lambda self, count=1: None  # type: ignore[method-assign]
    state = _state([node(f"n{i}") for i in range(10)], [])
    gc.collect()
    gc.freeze()
    for i in range(args.pods):
        obj = pod(f"p{i}", cpu="100m", uid=f"u{i}", labels={"app": f"a{i}"})
        obj["spec"]["priority"] = i  # a distinct spec each
        state.remember(make_pod(obj))
    pauses = []
    for _ in range(3):
        start = time.perf_counter()
        gc.collect()
        pauses.append(time.perf_counter() - start)
    frozen = "never frozen" if args.no_freeze else "frozen as they pile up"
    print(
        f"{args.pods} remembered pods ({frozen}): full gc.collect() {min(pauses) * 1000:.1f} ms, "
        f"{len(gc.get_objects())} objects tracked"
    )


if __name__ == "__main__":
    main()
