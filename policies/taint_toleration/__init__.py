"""The TaintToleration policy (see README.md beside this file)."""

from policies.taint_toleration.taint_toleration import TaintToleration

__all__ = ["TaintToleration"]
