""":mod:`asyncwf.data`, synchronous: ``from asyncwf.blocking.data import Dataset``.

Objects that are loaded by awaiting them in the async API come back loaded
from their constructor here: ``Dataset("gs://bucket/data")`` lists the files
and reads the metadata before returning.
"""

from __future__ import annotations

import asyncwf.data
from asyncwf.blocking import _mirror

__all__ = list(asyncwf.data.__all__)
globals().update(_mirror(asyncwf.data))
