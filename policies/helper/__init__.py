"""Machinery the built-in policies share (kube-scheduler keeps its own in `plugins/helper`).

Not part of the plugin API (`extender.api`): it may change with the built-ins.
"""
