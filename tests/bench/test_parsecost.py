"""bench.parsecost's measured loop: the worker's framing and environ steps accept
each of kube-scheduler's requests for a pod whole (else the count it reports
would be of an early refusal, not of parsing)."""

from __future__ import annotations

import pytest

from bench import parsecost
from extender.wire.worker import Framing


@pytest.mark.parametrize("step", ["framing", "environ", "both"])
def test_the_loop_parses_every_request_whole(step):
    parsecost._loop(2, step, 20)


def test_the_loop_fails_on_a_request_framing_does_not_finish(monkeypatch):
    monkeypatch.setattr(Framing, "check", lambda self, buf: (Framing.MORE, 0, False))
    with pytest.raises(AssertionError):
        parsecost._loop(1, "framing", 20)
