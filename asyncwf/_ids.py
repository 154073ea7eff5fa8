"""Identifiers: time-ordered and unique, without a system call per id.

``uuid.uuid4()`` reads the OS entropy pool on every call (~20 us on small
VMs); job ids and idempotency keys need uniqueness, not secrecy, so they use
a PRNG seeded once from the OS: 48 bits of milliseconds + 80 random bits.
"""

from __future__ import annotations

import random
import time

__all__ = ["new_id"]

_random = random.Random()  # seeded from os.urandom once  # noqa: S311


def new_id() -> str:
    """A 32-character hex id, sortable by creation time (to the millisecond)."""
    return f"{time.time_ns() // 1_000_000:012x}{_random.getrandbits(80):020x}"
