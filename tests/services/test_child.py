"""Child.ask through the backend to a served app: in process, and with every part in its own process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncwf import Client, JobState, RetryPolicy
from asyncwf.exceptions import ChildError, InvalidInputException, Unavailable
from asyncwf.services import Analysis, Child, Runner, ServedApp

TWINE = {
    "input_values_schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    "monitor_message_schema": {"type": "object"},
}


async def app(analysis: Analysis) -> None:
    n = analysis.input_values["n"]
    logging.getLogger("square-app").info("squaring %d", n)
    analysis.send_monitor_message({"step": 1})
    if n == 13:
        raise ValueError("13 is unlucky")
    if n < 0:
        await asyncio.sleep(30)
    analysis.send_monitor_message({"step": 2})
    analysis.output_values = {"square": n * n}


@pytest.fixture
async def served(client: Client) -> AsyncIterator[Child]:
    async with ServedApp(Runner(app, twine=TWINE), "org/square:1.0", client, concurrency=8):
        yield Child("org/square:1.0", client=client)


async def test_ask_delivers_logs_monitor_messages_and_the_answer_in_order(
    served: Child, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monitor: list[Any] = []
    record = str(tmp_path / "events.json")
    with caplog.at_level(logging.INFO):
        answer = await served.ask(input_values={"n": 7}, handle_monitor_message=monitor.append,
                                  record_messages_to=record)  # fmt: skip
    assert answer == {"output_values": {"square": 49}, "output_manifest": None}
    assert monitor == [{"step": 1}, {"step": 2}]
    assert any(r.getMessage() == "[org/square:1.0] squaring 7" for r in caplog.records)
    kinds = [event["kind"] for event in json.loads(await anyio.Path(record).read_text())]
    assert kinds == ["log_record", "monitor_message", "monitor_message", "result"]


async def test_the_childs_exceptions_and_bad_inputs_reach_the_parent(served: Child) -> None:
    with pytest.raises(ValueError, match="13 is unlucky") as info:
        await served.ask(input_values={"n": 13})
    assert "Traceback" in info.value.__cause__.remote_traceback  # type: ignore[union-attr]
    with pytest.raises(ChildError) as bad:
        await served.ask(input_values={"n": "seven"})
    assert bad.value.exception_type == "TwineValidationError"
    assert (await served.ask(input_values={"n": 2}))["output_values"] == {"square": 4}  # still serving
    with pytest.raises(InvalidInputException, match="local"):
        await served.ask(input_values={"n": 1}, input_manifest={"datasets": {"d": "/tmp/x"}})


async def test_ask_multiple_keeps_question_order_and_answers_stream(served: Child) -> None:
    threads = threading.active_count()
    numbers = [n for n in range(101) if n != 13]  # 13 fails
    answers = await served.ask_multiple(*({"input_values": {"n": n}} for n in numbers))
    assert [a["output_values"]["square"] for a in answers] == [n * n for n in numbers]
    seen = {i: answer async for i, answer in served.answers(*({"input_values": {"n": n}} for n in numbers[:20]))}
    assert sorted(seen) == list(range(20)) and seen[5]["output_values"] == {"square": 25}
    assert threading.active_count() <= threads + 1


async def test_served_app_lines_carry_the_question_id(served: Child) -> None:
    from asyncwf.services._serve import QuestionTag

    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    handler.setFormatter(logging.Formatter("[%(question_id)s] %(name)s: %(message)s"))
    handler.addFilter(QuestionTag())
    root, level = logging.getLogger(), logging.getLogger().level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # as asyncwf serve-app has it
    try:
        await served.ask(input_values={"n": 3}, question_uuid="q-three")
        await served.ask(input_values={"n": 13}, question_uuid="q-unlucky", raise_errors=False, log_errors=False)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert "[q-three] square-app: squaring 3" in lines
    assert any(line.startswith("[q-three] asyncwf.services._serve: question q-three: answered in ") for line in lines)
    assert any(line.startswith("[q-unlucky] asyncwf.services._serve: question q-unlucky: failed in ") and
               line.endswith("ValueError: 13 is unlucky") for line in lines), lines  # fmt: skip


async def test_ask_multiple_has_a_progress_bar_of_questions(served: Child, capsys: pytest.CaptureFixture[str]) -> None:
    from asyncwf.services import ChildEmulator

    await served.ask_multiple(*({"input_values": {"n": n}} for n in (2, 13, 3)), raise_errors=False,
                              log_errors=False, progress_bar=True)  # fmt: skip
    bar = capsys.readouterr().err
    assert f"Asking {served.id}" in bar and "3/3" in bar and "question" in bar
    emulated = ChildEmulator(events=[{"kind": "result", "output_values": {"ok": 1}}])
    await emulated.ask_multiple({}, {}, progress_bar=True)
    assert "2/2" in capsys.readouterr().err
    await served.ask_multiple({"input_values": {"n": 2}})  # outside a notebook: no bar unless asked for
    assert capsys.readouterr().err == ""


async def test_a_failure_in_ask_multiple_cancels_the_rest(served: Child, client: Client) -> None:
    with pytest.raises(ValueError, match="unlucky"):
        await served.ask_multiple({"input_values": {"n": -1}}, {"input_values": {"n": 13}})
    await asyncio.sleep(0.2)
    waiting = [job async for job in client.list_jobs(states=[JobState.QUEUED, JobState.RUNNING])]
    assert waiting == []


async def test_errors_in_place_of_answers_with_raise_errors_false(
    served: Child, caplog: pytest.LogCaptureFixture
) -> None:
    failed = await served.ask(input_values={"n": 13}, raise_errors=False)
    assert isinstance(failed, ValueError) and "unlucky" in str(failed)
    with caplog.at_level(logging.ERROR, logger="asyncwf.services"):
        answers = await served.ask_multiple(*({"input_values": {"n": n}} for n in (2, 13, 3)), raise_errors=False,
                                            max_retries=1, prevent_retries_when=[ChildError])  # fmt: skip
    assert answers[0]["output_values"] == {"square": 4} and answers[2]["output_values"] == {"square": 9}
    assert isinstance(answers[1], ValueError)  # the others ran to their answers
    assert any("unlucky" in record.getMessage() for record in caplog.records)
    quiet = await served.ask(input_values={"n": 13}, raise_errors=False, log_errors=False)
    assert isinstance(quiet, ValueError)


async def test_the_emulator_returns_errors_in_place_too() -> None:
    from asyncwf.services import ChildEmulator

    failing = ChildEmulator(events=[{"kind": "exception", "exception_type": "ValueError",
                                     "exception_message": "no"}])  # fmt: skip
    assert isinstance(await failing.ask(raise_errors=False, log_errors=False), ValueError)
    answers = await failing.ask_multiple({}, {}, raise_errors=False, log_errors=False)
    assert [type(a) for a in answers] == [ValueError, ValueError]
    with pytest.raises(ValueError):
        await failing.ask_multiple({}, {})


async def test_a_monitor_message_handler_that_raises_stops_the_question(served: Child, client: Client) -> None:
    seen: list[Any] = []

    async def refuse(message: Any) -> None:
        seen.append(message)
        raise RuntimeError("the parent refuses this message")

    with pytest.raises(RuntimeError, match="refuses"):
        await served.ask(input_values={"n": -1}, handle_monitor_message=refuse)  # would run for 30 s
    assert seen == [{"step": 1}]

    async def question_cancelled() -> bool:
        return [job async for job in client.list_jobs(states=[JobState.QUEUED, JobState.RUNNING])] == []

    for _ in range(50):
        if await question_cancelled():
            break
        await asyncio.sleep(0.05)
    assert await question_cancelled()
    assert (await served.ask(input_values={"n": 3}))["output_values"] == {"square": 9}


async def test_cancelling_the_asker_cancels_the_question_and_a_handler_error_leaves_the_task_usable(
    served: Child, client: Client
) -> None:
    asking = asyncio.create_task(served.ask(input_values={"n": -2}))  # would run for 30 s
    for _ in range(100):
        if [job async for job in client.list_jobs(states=[JobState.RUNNING])]:
            break
        await asyncio.sleep(0.02)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    jobs = [job async for job in client.list_jobs(states=[JobState.CANCELLED])]
    assert len(jobs) == 1 and jobs[0].kind == "service:org/square:1.0"

    async def refuse(message: Any) -> None:
        raise KeyError("refused")

    with pytest.raises(KeyError):
        await served.ask(input_values={"n": 2}, handle_monitor_message=refuse)
    # The interrupt that stopped the question left no cancellation behind in this task.
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    await asyncio.sleep(0.01)
    assert (await served.ask(input_values={"n": 4}))["output_values"] == {"square": 16}


async def test_a_question_nobody_takes_fails_and_timeouts_cancel(client: Client, served: Child) -> None:
    nobody = Child("org/absent:1.0", client=client)
    with pytest.raises(ChildError, match="no service"):
        await nobody.ask(input_values={"n": 1}, delivery_timeout=0.3)
    with pytest.raises(TimeoutError):
        await served.ask(input_values={"n": -1}, timeout=0.5)


SERVICE_APP = textwrap.dedent("""
    import asyncio, logging, os

    async def run(analysis):
        logging.getLogger("child").info("working on %s", analysis.input_values)
        analysis.send_monitor_message({"pid": os.getpid()})
        if analysis.input_values.get("hang"):
            await asyncio.sleep(60)
        analysis.output_values = {"double": analysis.input_values["n"] * 2}
""")


async def test_parent_and_child_in_separate_processes(server_process: Any, tmp_path: Path) -> None:
    server = server_process()
    await anyio.Path(tmp_path / "app.py").write_text(SERVICE_APP)
    await anyio.Path(tmp_path / "twine.json").write_text(json.dumps({"input_values_schema": {"type": "object"}}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "asyncwf._cli", "serve-app", "--service-id", "org/double:1.0",
               "--app", str(tmp_path), "--twine", str(tmp_path / "twine.json"), "--port", str(server.port),
               "--lease-seconds", "2", "--log-level", "WARNING"]  # fmt: skip
    service = await anyio.to_thread.run_sync(
        lambda: subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    )
    try:
        assert service.stdout is not None
        await anyio.to_thread.run_sync(service.stdout.readline)
        async with server.client() as client:
            child = Child("org/double:1.0", client=client)
            monitor: list[Any] = []
            answer = await child.ask(input_values={"n": 21}, handle_monitor_message=monitor.append)
            assert answer["output_values"] == {"double": 42}
            assert monitor == [{"pid": service.pid}]
            # Kill the service mid-question: its lease lapses and the parent hears of it within seconds.
            asking = asyncio.create_task(child.ask(input_values={"n": 1, "hang": True}))
            await asyncio.sleep(1.0)
            service.send_signal(signal.SIGKILL)
            # Well within the backend's default lease of 30 s: the service's own 2 s lease is what lapses.
            with pytest.raises(ChildError):
                async with asyncio.timeout(15):
                    await asking
    finally:
        if service.poll() is None:
            service.kill()
        await anyio.to_thread.run_sync(service.wait)
        if service.stdout is not None:
            service.stdout.close()


async def test_a_backend_that_cannot_be_reached_is_a_typed_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Client("127.0.0.1", port, retry=RetryPolicy(max_attempts=2, max_backoff=0.05)) as client:
        with pytest.raises(Unavailable, match=rf"connection to the backend at 127\.0\.0\.1:{port} failed"):
            async with asyncio.timeout(30):  # (giving the question up, it is not waited for long either)
                await Child("org/nowhere:1.0", client=client).ask(input_values={"n": 1})
