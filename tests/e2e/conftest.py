"""A real control plane per test module (bench/controlplane.py): etcd and
kube-apiserver built from the Kubernetes modules by ./dev build-go. Without
those binaries the tests fail and say how to build them: an end-to-end suite
that skips itself proves nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.controlplane import ControlPlane, Kubelet, missing_binaries
from tests.e2e.kube import stop_leftovers


@pytest.fixture(scope="module")
def cp(tmp_path_factory) -> Iterator[ControlPlane]:
    missing = missing_binaries()
    if missing:
        pytest.fail(
            f"the real control plane is not built ({', '.join(missing)} missing from go/bin): "
            "run ./dev build-go (./dev test does it first)",
            pytrace=False,
        )
    with ControlPlane(tmp_path_factory.mktemp("controlplane")) as plane:
        try:
            yield plane
        finally:
            stop_leftovers()


@pytest.fixture(scope="module")
def kubelet(cp: ControlPlane) -> Iterator[Kubelet]:
    assert cp.api is not None
    with Kubelet(cp.api) as stand_in:
        yield stand_in
