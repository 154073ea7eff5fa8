""":mod:`asyncwf.data`, synchronous: ``from asyncwf.blocking.data import Dataset``.

Objects that are loaded by awaiting them in the async API come back loaded
from their constructor here: ``Dataset("gs://bucket/data")`` lists the files
and reads the metadata before returning.
"""

from __future__ import annotations

import asyncwf.data
from asyncwf.blocking import _blocking

__all__ = list(asyncwf.data.__all__)

for _name in __all__:
    globals()[_name] = _blocking(getattr(asyncwf.data, _name))
del _name
