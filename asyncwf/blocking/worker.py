""":mod:`asyncwf.worker`, synchronous: ``from asyncwf.blocking.worker import TemporaryWorkingDirectory``."""

from __future__ import annotations

import asyncwf.worker
from asyncwf.blocking import _blocking

__all__ = list(asyncwf.worker.__all__)

for _name in __all__:
    globals()[_name] = _blocking(getattr(asyncwf.worker, _name))
del _name
