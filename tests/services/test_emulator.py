"""ChildEmulator: every event format the Octue SDK's emulator files used, and ask_multiple at scale."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncwf.exceptions import ChildError, InvalidInputException
from asyncwf.services import ChildEmulator

# The same emulated child in each format generation (written here after the documented shapes).
FORMATS: dict[str, Any] = {
    "messages, type/content": {"id": "org/child", "internal_service_name": "me", "messages": [
        {"type": "log_record", "content": {"msg": "Starting."}},
        {"type": "monitor_message", "content": {"progress": 1}},
        {"type": "result", "content": {"output_values": [1, 2], "output_manifest": None}}]},
    "messages, flat type": {"id": "org/child", "messages": [
        {"type": "log_record", "log_record": {"msg": "Starting."}},
        {"type": "monitor_message", "data": "{\"progress\": 1}"},
        {"type": "result", "output_values": [1, 2], "output_manifest": None}]},
    "messages, kind": {"id": "org/child:1.0", "messages": [
        {"kind": "log_record", "log_record": {"msg": "Starting."}},
        {"kind": "monitor_message", "data": {"progress": 1}},
        {"kind": "result", "output_values": [1, 2]}]},
    "events, kind, internal_sruid": {"id": "org/child:1.0", "internal_sruid": "org/me:1.0", "events": [
        {"kind": "delivery_acknowledgement"},
        {"kind": "log_record", "log_record": {"msg": "Starting."}},
        {"kind": "monitor_message", "data": {"progress": 1}},
        {"kind": "result", "output_values": [1, 2]}]},
    "full event list": [
        {"event": {"kind": "log_record", "log_record": {"msg": "Starting.", "levelno": 20, "levelname": "INFO"}},
         "attributes": {"question_uuid": "q", "sender_type": "CHILD"}},
        {"event": {"kind": "monitor_message", "data": {"progress": 1}}, "attributes": {}},
        {"event": {"kind": "result", "output_values": [1, 2], "output_manifest": None}, "attributes": {}}],
}  # fmt: skip


@pytest.mark.parametrize("name", list(FORMATS))
async def test_every_file_format(name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "child.json"
    await anyio.Path(path).write_text(json.dumps(FORMATS[name]))
    child = await ChildEmulator.from_file(str(path))
    monitor: list[Any] = []
    with caplog.at_level(logging.INFO):
        answer = await child.ask(input_values={"x": 1}, handle_monitor_message=monitor.append,
                                 record_messages_to=str(tmp_path / "recorded.json"))  # fmt: skip
    assert answer == {"output_values": [1, 2], "output_manifest": None}
    assert monitor == [{"progress": 1}]
    assert any("Starting." in r.getMessage() for r in caplog.records)
    recorded = json.loads(await anyio.Path(tmp_path / "recorded.json").read_text())
    assert recorded[-1]["kind"] == "result"


async def test_exceptions_are_raised_as_their_type_or_as_child_errors() -> None:
    child = ChildEmulator(messages=[{"kind": "exception", "exception_type": "ValueError",
                                     "exception_message": "x cannot be less than 10."}])  # fmt: skip
    with pytest.raises(ValueError, match="x cannot be less than 10") as info:
        await child.ask()
    assert isinstance(info.value.__cause__, ChildError)
    custom = ChildEmulator(events=[{"kind": "exception", "exception_type": "MyAppError", "exception_message": "no",
                                    "exception_traceback": ["Traceback...\n", "MyAppError: no\n"]}])  # fmt: skip
    with pytest.raises(ChildError) as error:
        await custom.ask()
    assert error.value.exception_type == "MyAppError" and "Traceback" in error.value.remote_traceback
    assert type(error.value).__name__ == "MyAppError" and str(error.value).startswith("no")  # as Octue made it
    with pytest.raises(type(error.value)):  # the same class every time: ``except`` by it works
        await custom.ask()
    with pytest.raises(ValueError, match="needs the events"):
        ChildEmulator(events=[])
    silent = ChildEmulator(events=[{"kind": "monitor_message", "data": 1}])  # no result: an answer of nothing
    assert await silent.ask() == {"output_values": None, "output_manifest": None}
    with pytest.raises(InvalidInputException, match="unknown event kind"):
        ChildEmulator(events=[{"kind": "telepathy"}])


async def test_async_monitor_handlers_and_events_after_the_result_are_ignored() -> None:
    seen: list[Any] = []

    async def handle(data: Any) -> None:
        seen.append(data)

    child = ChildEmulator(events=[{"kind": "monitor_message", "data": 1}, {"kind": "result", "output_values": 2},
                                  {"kind": "monitor_message", "data": 3}])  # fmt: skip
    assert (await child.ask(handle_monitor_message=handle))["output_values"] == 2
    assert seen == [1]


async def test_a_thousand_questions_at_once_without_threads() -> None:
    child = ChildEmulator(events=[{"kind": "result", "output_values": 1}])
    threads = threading.active_count()
    start = time.perf_counter()
    answers = await child.ask_multiple(*({"input_values": i} for i in range(1000)))
    elapsed = time.perf_counter() - start
    assert len(answers) == 1000 and all(a["output_values"] == 1 for a in answers)
    assert threading.active_count() == threads
    assert elapsed < 60  # sanity only; the speed is measured in benchmarks/
