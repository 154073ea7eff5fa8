"""The Job progress bar: tqdm (a widget in Jupyter, text elsewhere)."""

from __future__ import annotations

from typing import Any

from asyncwf._tqdm import in_notebook, tqdm

__all__ = ["ProgressBar", "in_notebook"]


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
