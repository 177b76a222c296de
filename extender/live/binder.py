"""Live-mode binding: assume the pod on its node, POST the Binding, undo on failure."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from extender.live.client import KubeApi
from extender.model.errors import BindError

log = logging.getLogger("podsift.bind")


class ApiBinder:
    """Live-mode /bind: assume on the node at once, POST the Binding, undo on failure.

    Like kube-scheduler's assume cache: the next pod sees the capacity taken as
    soon as we decide; the watch confirms the bind when it shows the pod on the
    node (`state.apply_pod` clears the assumed flag); an assumption neither
    confirmed nor failed within `assume_timeout` is forgotten by `sweep()`,
    which a daemon thread runs every `sweep_interval` seconds after `start()`.
    """

    waits_on_io = True  # bind() waits for the API server's answer to the POST

    def __init__(
        self,
        state: Any,
        api: KubeApi,
        *,
        assume_timeout: float = 30.0,
        sweep_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.api = api
        self.assume_timeout = assume_timeout
        self.sweep_interval = sweep_interval
        self._clock = clock
        self._deadlines: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.bound = 0
        self.failed = 0
        self.expired = 0

    def bind(self, uid: str, namespace: str, name: str, node: str) -> None:
        """Assume, then POST; BindError (state unchanged) if either fails."""
        self.state.assume(uid, node)  # BindError if unknown or no longer fits
        try:
            self.api.bind(namespace, name, uid, node)
        except BindError:
            self.state.forget(uid)
            self.failed += 1
            raise
        except Exception as exc:
            self.state.forget(uid)
            self.failed += 1
            raise BindError(f"binding pod {namespace}/{name} to node {node}: {exc}") from exc
        self.bound += 1
        with self._lock:
            self._deadlines[uid] = self._clock() + self.assume_timeout

    def sweep(self) -> list[str]:
        """Forget assumptions past their deadline that the watch has not confirmed."""
        now = self._clock()
        forgotten: list[str] = []
        with self._lock:
            due = [uid for uid, deadline in self._deadlines.items() if deadline <= now]
            for uid in due:
                del self._deadlines[uid]
        for uid in due:
            if self.state.is_assumed(uid):
                self.state.forget(uid)
                forgotten.append(uid)
        with self._lock:  # drop bookkeeping for binds the watch already confirmed
            for uid in [u for u in self._deadlines if not self.state.is_assumed(u)]:
                del self._deadlines[uid]
        if forgotten:
            self.expired += len(forgotten)
            log.warning(
                "forgot %d assumed pods not confirmed within %.0fs",
                len(forgotten),
                self.assume_timeout,
            )
        return forgotten

    def pending(self) -> int:
        with self._lock:
            return len(self._deadlines)

    def stats(self) -> dict[str, int]:
        return {
            "binds_ok": self.bound,
            "binds_failed": self.failed,
            "assumptions_expired": self.expired,
            "assumptions_pending": self.pending(),
        }

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="podsift-assume-sweep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.sweep_interval):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - the sweeper must outlive one bad pass
                log.exception("assumption sweep failed")
