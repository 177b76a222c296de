"""What a restarted worker must admit: which worker this is and what was lost.

gunicorn's master forks the one worker from the state it loaded at start (a
snapshot, or the synthetic cluster). When the worker dies (kill -9, the OOM
killer, gunicorn's timeout), the master forks a new one from that same copy: in
snapshot mode every bind the dead worker applied is gone, though kube-scheduler
still counts those pods on their nodes. Against a live cluster nothing is lost
(the binds are in the API server and the new worker re-lists).

The counters live in an anonymous shared mapping the master creates before the
first fork, so they outlive each worker; only the worker of the moment writes
them (gunicorn runs one at a time). The master never reads or writes them.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading

_LAYOUT = struct.Struct("<qqqq")  # workers started, binds by this worker, binds lost, spare


class WorkerRestarts:
    """Worker generation and binds lost, shared across the master's forks."""

    def __init__(self, snapshot: str | None = None, binds_are_state: bool = False) -> None:
        # MAP_SHARED and anonymous: every forked worker sees the same pages.
        self._mem = mmap.mmap(-1, _LAYOUT.size)
        self.snapshot = snapshot  # the file the master loaded, checked on each /readyz
        self.binds_are_state = binds_are_state  # snapshot or synthetic: a bind lives in memory
        self._lock = threading.Lock()

    def _read(self) -> tuple[int, int, int, int]:
        return _LAYOUT.unpack_from(self._mem, 0)

    def worker_started(self) -> None:
        """Called once in each new worker: it is the next generation, and the binds
        of the one before it, applied to a copy that died with it, are lost."""
        with self._lock:
            started, binds, lost, spare = self._read()
            _LAYOUT.pack_into(self._mem, 0, started + 1, 0, lost + binds, spare)

    def bind_applied(self) -> None:
        """One bind applied to the in-memory state (snapshot mode's only record of it)."""
        with self._lock:
            started, binds, lost, spare = self._read()
            _LAYOUT.pack_into(self._mem, 0, started, binds + 1, lost, spare)

    @property
    def generation(self) -> int:
        """1 for the first worker, 2 after one restart, ..."""
        return self._read()[0]

    @property
    def binds_lost(self) -> int:
        return self._read()[2]

    def stats(self) -> dict[str, float]:
        """The /metrics source: restarts of the worker and binds lost by them."""
        started, _, lost, _ = self._read()
        return {"worker_restarts": max(started - 1, 0), "binds_lost": lost}

    def readiness_notes(self) -> list[str]:
        """Lines /readyz adds after its status: empty while nothing needs saying."""
        notes = []
        generation = self.generation
        if generation > 1:
            if self.binds_are_state:
                notes.append(
                    f"worker restarted {generation - 1} time(s): {self.binds_lost} bind(s) "
                    "since start were lost; serving the state loaded at start, which "
                    "kube-scheduler's view of those pods no longer matches"
                )
            else:
                notes.append(
                    f"worker restarted {generation - 1} time(s): state re-listed from the "
                    "API server"
                )
        if self.snapshot and not os.path.exists(self.snapshot):
            notes.append(
                f"snapshot {self.snapshot} is gone: serving the copy loaded at start"
            )
        return notes
