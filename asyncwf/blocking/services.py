""":mod:`asyncwf.services`, synchronous: ``from asyncwf.blocking.services import Child, Runner``."""

from __future__ import annotations

import asyncwf.services
from asyncwf.blocking import _blocking

__all__ = list(asyncwf.services.__all__)

for _name in __all__:
    globals()[_name] = _blocking(getattr(asyncwf.services, _name))
del _name
