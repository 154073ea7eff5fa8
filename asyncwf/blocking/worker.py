""":mod:`asyncwf.worker`, synchronous: ``from asyncwf.blocking.worker import TemporaryWorkingDirectory``."""

from __future__ import annotations

import asyncwf.worker
from asyncwf.blocking import _mirror

__all__ = list(asyncwf.worker.__all__)
globals().update(_mirror(asyncwf.worker))
