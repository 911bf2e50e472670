"""The boundary rules (domain.boundaries) written into the OpenAPI document, so that a generated
client, and a fuzzer, know what the API refuses: every string without a stricter shape excludes the
control characters and is at most MAX_TEXT long, every number without tighter bounds lies within ±(2**53 − 1)."""

from __future__ import annotations

from typing import Any

from domain.boundaries import MAX_INTEGER, MAX_TEXT, TEXT_PATTERN

_SHAPED = ("pattern", "enum", "const", "format")


def state_boundaries(node: Any) -> None:
    """Adds the rules in place to every schema under `node` (a whole OpenAPI document or part)."""
    if isinstance(node, list):
        for member in node:
            state_boundaries(member)
        return
    if not isinstance(node, dict) or node.get("in") == "header":
        return  # headers are not message content: each header's own rules are its schema (keys, signatures)
    kind = node.get("type")
    if kind == "string" and not any(key in node for key in _SHAPED):
        node["pattern"] = TEXT_PATTERN
    if kind == "string" and "maxLength" not in node and not any(key in node for key in ("enum", "const", "format")):
        node["maxLength"] = MAX_TEXT
    elif kind in ("integer", "number"):
        if "maximum" not in node and "exclusiveMaximum" not in node:
            node["maximum"] = MAX_INTEGER
        if "minimum" not in node and "exclusiveMinimum" not in node:
            node["minimum"] = -MAX_INTEGER
        if kind == "integer":  # FastAPI's document model holds bounds as floats: 1e15 would read "1000000000000000.0"
            for bound in ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"):
                if isinstance(node.get(bound), float) and node[bound].is_integer():
                    node[bound] = int(node[bound])
    for key, value in node.items():
        if key not in ("examples", "example", "default", "const", "enum"):
            state_boundaries(value)
