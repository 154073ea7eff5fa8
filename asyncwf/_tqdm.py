"""tqdm, set up for use from async code: its lock made at import, notebook detection."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

# tqdm makes its (multiprocessing) lock on first use, which touches the file
# system: do it at import time, not on the event loop.
tqdm.get_lock()

__all__ = ["in_notebook", "new_progress_bar", "tqdm"]


def new_progress_bar(wanted: bool | None, total: int, description: str, unit: str) -> tqdm | None:
    """A bar of ``total`` ``unit`` (``"B"`` counts bytes, scaled to kB/MB), or None when not ``wanted``
    (None: only in a notebook, where tqdm draws a widget)."""
    if wanted is None:
        wanted = in_notebook()
    if not wanted:
        return None
    return tqdm(total=total, desc=description, unit=unit, unit_scale=unit == "B", unit_divisor=1024)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where tqdm draws a widget)."""
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})
