""":mod:`asyncwf.services`, synchronous: ``from asyncwf.blocking.services import Child, Runner``."""

from __future__ import annotations

import asyncwf.services
from asyncwf.blocking import _mirror

__all__ = list(asyncwf.services.__all__)
globals().update(_mirror(asyncwf.services))
