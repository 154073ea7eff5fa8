""":mod:`asyncwf.workflows`, synchronous: ``import asyncwf.blocking.workflows as wf``.

``wf.compute(obj, geoctx=...)`` blocks and returns the result; an
``XYZErrorListener`` calls its callbacks on the shared loop's background
thread, as the original's did on a thread of its own.
"""

from __future__ import annotations

import asyncwf.workflows
from asyncwf.blocking import _mirror

__all__ = list(asyncwf.workflows.__all__)
globals().update(_mirror(asyncwf.workflows))
