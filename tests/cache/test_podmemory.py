"""PodMemory: bounded in count and age, newest kept."""

from hypothesis import given
from hypothesis import strategies as st

from extender.cache.podmemory import PodMemory


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_ttl():
    clock = Clock()
    mem = PodMemory(10, ttl=5, clock=clock)
    mem.put("a", 1)
    clock.now = 4.9
    assert mem.get("a") == 1
    clock.now = 5.0
    assert mem.get("a") is None


def test_put_again_refreshes_age():
    clock = Clock()
    mem = PodMemory(10, ttl=5, clock=clock)
    mem.put("a", 1)
    clock.now = 4
    mem.put("a", 2)
    clock.now = 8
    assert mem.get("a") == 2


@given(st.lists(st.integers(0, 50), max_size=300), st.integers(1, 20))
def test_never_over_the_bound_and_keeps_the_newest(uids, bound):
    mem = PodMemory(bound, ttl=1e9, clock=Clock())
    for u in uids:
        mem.put(str(u), u)
        assert len(mem) <= bound
    if uids:
        assert mem.get(str(uids[-1])) == uids[-1]
