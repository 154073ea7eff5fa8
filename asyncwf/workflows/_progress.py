"""The Job progress bar: tqdm (a widget in Jupyter, text elsewhere)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

# tqdm makes its (multiprocessing) lock on first use, which touches the file
# system: do it at import time, not on the event loop.
tqdm.get_lock()

__all__ = ["ProgressBar", "in_notebook"]


def in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


class ProgressBar:
    """Shows steps finished, stage and status of a Job."""

    def __init__(self, job_id: str) -> None:
        self._bar = tqdm(total=0, desc=f"Job {job_id}", unit="step", leave=True)

    @classmethod
    def create(cls, wanted: bool | None, job_id: str) -> ProgressBar | None:
        """A bar if ``wanted`` (default: only in Jupyter)."""
        if wanted is None:
            wanted = in_notebook()
        return cls(job_id) if wanted else None

    def update(self, job: Any) -> None:
        progress = job.progress
        if progress is not None and progress.steps_total:
            self._bar.total = progress.steps_total
            self._bar.n = progress.steps_done
        self._bar.set_postfix_str(f"Stage: {job.stage} | Status: {job.status}", refresh=True)

    def close(self) -> None:
        self._bar.close()
