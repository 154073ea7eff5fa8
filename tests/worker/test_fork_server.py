"""The worker's fork server: each script forked from a process with ``asyncwf.worker`` imported, yet on its
own as if started by ``python script.py``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import textwrap
from pathlib import Path
from typing import Any

import anyio

from asyncwf._model import JobInfo, LogRecord
from asyncwf.worker import Worker, create_xf_job, get_xf_job
from tests.conftest import eventually
from tests.worker.conftest import XF

PROBE = textwrap.dedent("""
    import asyncio, json, os, random, sys, tempfile, time

    from asyncwf.worker import XFWorkerJob

    FACTS = {"name": __name__, "argv0": sys.argv[0], "path0": sys.path[0], "pid": os.getpid(),
             "ppid": os.getppid(), "cwd": os.getcwd(), "tmp": tempfile.gettempdir(), "random": random.random(),
             "serial": os.environ["XF_JOB_SERIAL"]}

    async def main():
        async with XFWorkerJob() as job:
            inputs = job.job["inputs"]
            with open(inputs["out"], "a") as f:
                f.write(json.dumps(FACTS) + "\\n")
            print("probe printed this")
            if inputs.get("hang"):
                await asyncio.sleep(600)
            if inputs.get("exit"):
                sys.exit(inputs["exit"])
            await job.finish({})

    if __name__ == "__main__":
        asyncio.run(main())
""")


async def _run(xf: XF, **inputs: Any) -> tuple[Any, dict[str, Any], list[str]]:
    """The job's final snapshot, its XF record and the log lines it got (watched from its start)."""
    job = await create_xf_job(xf.conn, {"task_serial": xf.tasks["failing"]["serial"], "inputs": inputs})
    lines: list[str] = []
    async with asyncio.timeout(60):
        async for event in xf.conn.client.watch_job(job["engine_job_id"], include_logs=True):
            if isinstance(event, LogRecord):
                lines.append(event.message)
            elif isinstance(event, JobInfo) and event.done:
                final = event
    return final, await get_xf_job(xf.conn, job["serial"]), lines


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (nothing may reap a killed orphan here)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line for line in status)
    except FileNotFoundError:
        return False


async def _facts(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (await anyio.Path(path).read_text()).splitlines()]


async def test_each_script_is_its_own_process_as_python_would_start_it(xf: XF, tmp_path: Path) -> None:
    script, out = tmp_path / "probe.py", tmp_path / "facts.jsonl"
    await anyio.Path(script).write_text(PROBE)
    async with Worker(xf.conn.client, {"failing": script}, work_dir=tmp_path / "work", concurrency=2) as worker:
        assert worker._forks is not None
        results = await asyncio.gather(*(_run(xf, out=str(out)) for _ in range(4)))
    assert all(final.state.name == "SUCCEEDED" for final, _, _ in results)
    facts = await _facts(out)
    assert len(facts) == 4
    assert len({f["pid"] for f in facts}) == 4  # a process per script
    assert len({f["ppid"] for f in facts}) == 1 and facts[0]["ppid"] != os.getpid()  # forked by the zygote
    assert len({f["random"] for f in facts}) == 4  # not the zygote's random state, copied
    for fact in facts:
        run_dir = tmp_path / "work" / f"job-{fact['serial']}-1"
        assert fact["name"] == "__main__" and fact["argv0"] == str(script) and fact["path0"] == str(tmp_path)
        assert fact["cwd"] == str(run_dir) and fact["tmp"] == str(run_dir)  # TMPDIR: the run's own directory
    assert all("probe printed this" in lines for _, _, lines in results)  # the script's output, line by line


async def test_exit_statuses_and_the_fork_server_dying(xf: XF, tmp_path: Path) -> None:
    script, out = tmp_path / "probe.py", tmp_path / "facts.jsonl"
    await anyio.Path(script).write_text(PROBE)
    async with Worker(xf.conn.client, {"failing": script}, work_dir=tmp_path / "work") as worker:
        final, job, _ = await _run(xf, out=str(out), exit=3)
        assert final.state.name == "FAILED" and job["state"] == "Failed"
        assert job["metadata"]["error_message"] == "probe printed this"  # its last line, as for any failed script
        hanging = asyncio.create_task(_run(xf, out=str(out), hang=True))
        await eventually(lambda: out.exists() and len(out.read_text().splitlines()) == 2)
        zygote = (await _facts(out))[-1]["ppid"]
        os.kill(zygote, signal.SIGKILL)  # the script dies with it (and its job fails), not orphaned
        final, job, _ = await asyncio.wait_for(hanging, 60)
        assert final.state.name == "FAILED" and job["state"] == "Failed"
        assert not _alive((await _facts(out))[-1]["pid"])
        final, _, _ = await _run(xf, out=str(out))  # a new fork server takes over
        assert final.state.name == "SUCCEEDED"
        assert (await _facts(out))[-1]["ppid"] != zygote
        assert worker._forks is not None


async def test_without_the_fork_server_each_script_is_a_new_interpreter(xf: XF, tmp_path: Path) -> None:
    script, out = tmp_path / "probe.py", tmp_path / "facts.jsonl"
    await anyio.Path(script).write_text(PROBE)
    async with Worker(xf.conn.client, {"failing": script}, work_dir=tmp_path / "work", fork_server=False) as worker:
        assert worker._forks is None
        final, _, _ = await _run(xf, out=str(out))
    assert final.state.name == "SUCCEEDED"
    [fact] = await _facts(out)
    assert fact["ppid"] == os.getpid() and fact["tmp"] == fact["cwd"]
