"""The ``asyncwf`` command line."""

from __future__ import annotations

import subprocess
import sys


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncwf._cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_demo_runs_the_main_job_end_to_end() -> None:
    result = _run("demo", "--jobs", "200")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "200 echo jobs round-tripped" in out and "all results correct" in out
    assert "primes below 2e7: 1270607" in out
    assert "JobFailed" in out and "CANCELLED" in out
    assert "REMOTE EXECUTORS LEASE JOBS OVER GRPC" in out
    assert "sum of the first 1000 squares = 332833500" in out
    assert "reused: 12 items" in out
    assert "demo finished" in out


def test_bad_arguments_exit_with_a_clear_message(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = _run("serve", "--data-dir", str(tmp_path), "--token", "name=")
    assert result.returncode == 2 and "--token takes" in result.stderr
    result = _run("serve", "--data-dir", str(tmp_path), "--port", "70000")
    assert result.returncode == 2 and "ports must be" in result.stderr
    result = _run("nonsense")
    assert result.returncode == 2
    result = _run("worker")
    assert result.returncode == 2 and "no task-type scripts" in result.stderr
    result = _run("worker", "--task-type", f"x={tmp_path / 'missing.py'}")
    assert result.returncode == 2 and "NAME=PATH of an existing script" in result.stderr
    result = _run("worker", "--scripts", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "no scripts directory" in result.stderr


def test_version_help_defaults_and_a_busy_port_in_one_line(tmp_path: object) -> None:
    import socket

    version = _run("--version")
    assert version.returncode == 0 and version.stdout.startswith("asyncwf ")
    helped = _run("serve", "--help")
    assert "(default: 50051)" in helped.stdout and "(default: 8080)" in helped.stdout
    assert "$ASYNCWF_DATA_DIR" in helped.stdout
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for flags in (["--port", port, "--http-port", "-1"], ["--port", "0", "--http-port", port]):
            refused = _run("serve", "--data-dir", str(tmp_path), *flags, timeout=60)
            assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
            assert "address already in use" in refused.stderr


def test_a_worker_without_its_backend_says_so_in_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "t.py").write_text("print('hi')\n")
    result = _run("worker", "--scripts", str(tmp_path), "--port", "1", timeout=60)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "backend at 127.0.0.1:1" in result.stderr and "asyncwf serve" in result.stderr
    helped = _run("worker", "--help").stdout
    assert "$ASYNCWF_PORT" in helped and "50051" in helped and "--log-transport" in helped


def test_debug_logging_leaves_the_transport_quiet_unless_asked() -> None:
    import argparse
    import logging

    from asyncwf._cli import _configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in ("hpack", "h2")}
    try:
        root.handlers.clear()
        _configure_logging(argparse.Namespace(log_level="DEBUG", log_transport=False))
        assert logging.getLogger("asyncwf.worker").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("hpack.hpack").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("h2.connection").isEnabledFor(logging.DEBUG)
        root.handlers.clear()
        for name in ("hpack", "h2"):
            logging.getLogger(name).setLevel(logging.NOTSET)
        _configure_logging(argparse.Namespace(log_level="DEBUG", log_transport=True))
        assert logging.getLogger("hpack.hpack").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
