"""Reading files users hand us (snapshots, policy configuration): JSON or YAML."""

from __future__ import annotations

from typing import Any

import orjson


def decode_json_or_yaml(raw: bytes, source: str) -> Any:
    """JSON first (fast, and what kubectl prints), then YAML; ValueError naming
    `source` when it is neither."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: neither valid JSON nor YAML: {exc}") from None
