"""The test kit as a user's suite meets it: the guide's module, the forgotten-fixture guard, a cheap plugin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from asyncwf.testing import LocalBackend

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guides" / "testing.md"


def _pytest(folder: Path, source: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``source`` as a user's test module in a fresh pytest process; return its report."""
    (folder / "test_user.py").write_text(source)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCWF_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_user.py"],
        cwd=folder, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stdout + done.stderr


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_guides_time_skipping_module_runs_in_milliseconds(tmp_path: Path, mode: str) -> None:
    [module] = [m for m in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S) if "asyncwf_clock" in m]
    if mode == "strict":  # strict mode wants async tests marked (the guide says so above)
        module = module.replace("async def test_", "@pytest.mark.asyncio\nasync def test_").replace(
            "import asyncio\n", "import asyncio\n\nimport pytest\n"
        )
    report = _pytest(tmp_path, module, "-o", f"asyncio_mode={mode}", "-p", "no:randomly")
    assert "1 passed" in report, report  # (a timeout of 3600 s: the run's own 120 s limit says it skipped)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_guides_module_runs_as_written_in_both_pytest_asyncio_modes(tmp_path: Path, mode: str) -> None:
    module = re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert module is not None
    report = _pytest(tmp_path, module.group(1), "-o", f"asyncio_mode={mode}")
    assert "2 passed" in report, report


FORGETFUL = """
import pytest
import asyncwf.workflows as wf
import asyncwf.blocking.workflows as bwf


@pytest.mark.asyncio
async def test_forgot_the_fixture():
    await wf.compute(wf.Int(1) + 1)


def test_forgot_it_in_blocking_code():
    bwf.compute(bwf.Int(1) + 1)


@pytest.mark.asyncio
@pytest.mark.asyncwf_real_backend
async def test_on_purpose():
    assert await wf.compute(wf.Int(1) + 1, timeout=20) == 2
"""


async def test_a_forgotten_fixture_never_reaches_a_backend_the_test_did_not_start(tmp_path: Path) -> None:
    async with LocalBackend() as developers_backend:  # stands in for the developer's own backend
        env = {"ASYNCWF_PORT": str(developers_backend.port)}
        report = await _in_thread(_pytest, tmp_path, FORGETFUL, env=env)
        async with developers_backend.client() as client:
            jobs = [job async for job in client.list_jobs()]
    assert "2 failed, 1 passed" in report, report
    for test in ("test_forgot_the_fixture", "test_forgot_it_in_blocking_code"):
        assert f"ConfigurationError: test_user.py::{test} used the implicit default client" in report
    assert "mark the test @pytest.mark.asyncwf_real_backend" in report
    assert len(jobs) == 1  # only the test that opted in computed there


LOCAL = """
import pytest
import asyncwf.workflows as wf
from asyncwf.testing import LocalBackend


@pytest.mark.asyncio
async def test_implicit_default_of_a_backend_started_here(monkeypatch):
    async with LocalBackend() as backend:
        monkeypatch.setenv("ASYNCWF_PORT", str(backend.port))
        assert await wf.compute(wf.Int(20) + 1) == 21
"""


def test_the_implicit_default_may_reach_a_backend_started_in_the_test(tmp_path: Path) -> None:
    report = _pytest(tmp_path, LOCAL)
    assert "1 passed" in report, report


def test_the_plugin_imports_nothing_heavy_until_a_fixture_is_used() -> None:
    probe = (
        "import sys, pytest, pytest_asyncio; before = set(sys.modules); import asyncwf.testing._plugin; "
        "print(sorted(m for m in set(sys.modules) - before))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(sorted(["asyncwf", "asyncwf._testguard", "asyncwf.testing",
                                              "asyncwf.testing._plugin"])), done.stdout  # fmt: skip


async def _in_thread(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    import anyio

    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
