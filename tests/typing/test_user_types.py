"""mypy --strict on a user's script: every public name of both APIs is seen with real types."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("user_script.py")


@pytest.mark.allow_blocking
def test_mypy_sees_both_apis_and_catches_the_marked_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", str(SCRIPT)],
        capture_output=True, text=True, timeout=600, cwd=SCRIPT.parent.parent.parent,
    )  # fmt: skip
    reported = {int(m.group(1)) for m in re.finditer(rf"{SCRIPT.name}:(\d+): error", done.stdout)}
    marked = {n for n, line in enumerate(SCRIPT.read_text().splitlines(), 1) if line.endswith("# error")}
    assert marked and reported == marked, done.stdout
