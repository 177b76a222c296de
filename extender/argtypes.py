"""argparse value types shared by `podsift serve` and `podsift bench`."""

from __future__ import annotations

import argparse


def positive(value: str) -> int:
    """argparse type: an integer > 0."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def listen_address(value: str) -> str:
    """argparse type: HOST:PORT with a port in 1..65535."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    if not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"the port must be in 1..65535, got {value!r}")
    return value
