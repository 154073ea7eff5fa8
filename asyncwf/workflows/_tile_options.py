"""What an XYZ tile may be asked for: the colormaps and the scales rules, shared by ``XYZ.url`` and the
backend's tile endpoint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["COLORMAPS", "validate_scales"]

#: Named colormaps (matplotlib's) for one-band tiles.
COLORMAPS = ("gray", "viridis", "magma", "inferno", "plasma", "cividis", "turbo", "coolwarm", "RdYlGn", "terrain",
             "Greens", "Blues", "Reds", "Greys", "YlGn", "spectral", "jet")  # fmt: skip


def validate_scales(scales: Any, *, drop_unset: bool = True) -> list[list[float | None]] | None:
    """0, 1 or 3 [min, max] pairs of numbers or None (a bare pair allowed); ints become floats.

    Raises TypeError or ValueError, as the original's ``XYZ.url`` did. With ``drop_unset``, None when
    every bound is None (nothing to send).
    """
    if scales is None:
        return None
    if not isinstance(scales, Sequence) or isinstance(scales, str):
        raise TypeError(f"scales must be a list of [min, max] pairs, not {type(scales).__name__}")
    if len(scales) == 2 and all(v is None or isinstance(v, int | float) for v in scales):
        scales = [scales]
    if len(scales) not in (0, 1, 3):
        raise ValueError(f"scales must be 0, 1 or 3 [min, max] pairs, not {len(scales)}")
    pairs: list[list[float | None]] = []
    for pair in scales:
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise TypeError(f"a scale is a [min, max] pair, not {pair!r}")
        checked: list[float | None] = []
        for bound in pair:
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)
                                      or not math.isfinite(bound)):  # fmt: skip
                raise TypeError(f"scale bounds are numbers or None, not {bound!r}")
            checked.append(None if bound is None else float(bound))
        pairs.append(checked)
    if drop_unset and all(b is None for pair in pairs for b in pair):
        return None
    return pairs
