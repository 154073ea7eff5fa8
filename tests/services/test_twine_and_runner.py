"""Twines, the Runner and the Analysis, in process."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncwf.exceptions import InvalidInputException, TwineValidationError
from asyncwf.services import Analysis, Runner, Twine

TWINE = {
    "input_values_schema": {
        "type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}, "required": ["n"],
    },
    "output_values_schema": {"type": "object", "properties": {"square": {"type": "integer"}}},
    "monitor_message_schema": {"type": "object", "properties": {"progress": {"type": "number"}},
                               "required": ["progress"]},
    "configuration_values_schema": {"type": "object", "properties": {"scale": {"type": "integer"}}},
}  # fmt: skip


def test_twines_validate_and_name_the_failing_place() -> None:
    twine = Twine(TWINE)
    assert twine.validate("input_values", {"n": 3}) == {"n": 3}
    with pytest.raises(TwineValidationError) as info:
        twine.validate("input_values", {"n": -1})
    assert (info.value.strand, info.value.path) == ("input_values", "/n")
    with pytest.raises(TwineValidationError, match="input_manifest"):
        Twine({"input_manifest": {"datasets": {"raw": {}}}}).validate("input_manifest", {"datasets": {}})
    with pytest.raises(InvalidInputException, match="unknown twine strands"):
        Twine({"input_value_schema": {}})
    with pytest.raises(TwineValidationError, match="input_values_schema"):
        Twine({"input_values_schema": {"type": 12}})
    assert Twine(json.dumps(TWINE)).available_strands == (
        "input_values", "configuration_values", "output_values", "monitor_message")  # fmt: skip


def test_twines_validate_what_only_one_of_the_two_validators_reads() -> None:
    # Data jsonschema-rs cannot read (a key that is not a string) and a schema it will not compile
    # (a remote reference: nothing is fetched) are checked by jsonschema alone, with the same errors.
    twine = Twine({"input_values_schema": {"type": "object", "additionalProperties": {"type": "integer"}}})
    assert twine.validate("input_values", {1: 2, "a": 3}) == {1: 2, "a": 3}
    with pytest.raises(TwineValidationError) as info:
        twine.validate("input_values", {1: "two"})
    assert (info.value.strand, info.value.path) == ("input_values", "/1")
    remote = Twine(
        {"input_values_schema": {"anyOf": [{"type": "integer"}, {"$ref": "https://example.invalid/s.json"}]}}
    )
    assert remote.validate("input_values", 3) == 3
    with pytest.raises(TwineValidationError, match=r"example\.invalid.*never fetched") as info:
        remote.validate("input_values", "x")
    assert info.value.strand == "input_values_schema"


def test_twines_validate_without_jsonschema_rs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("asyncwf.services._twine.jsonschema_rs", None)
    twine = Twine(TWINE)
    assert twine.validate("input_values", {"n": 3}) == {"n": 3}
    with pytest.raises(TwineValidationError) as info:
        twine.validate("input_values", {"n": -1})
    assert (info.value.strand, info.value.path) == ("input_values", "/n")


async def square(analysis: Analysis) -> None:
    logging.getLogger("app").info("squaring %s", analysis.input_values["n"])
    analysis.send_monitor_message({"progress": 0.5})
    analysis.output_values = {"square": analysis.input_values["n"] ** 2 * analysis.configuration_values["scale"]}


def sync_square(analysis: Analysis) -> None:
    analysis.send_monitor_message({"progress": 1.0})
    analysis.output_values = {"square": analysis.input_values["n"] ** 2}


class SquareApp:
    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    async def run(self) -> None:
        self.analysis.output_values = {"square": self.analysis.input_values["n"] ** 2}


@pytest.mark.parametrize("app", [square, sync_square, SquareApp])
async def test_the_runner_runs_every_kind_of_app(app: Any) -> None:
    messages: list[Any] = []
    runner = Runner(app, twine=TWINE, configuration_values={"scale": 1})
    analysis = await runner.run(input_values={"n": 4}, handle_monitor_message=messages.append)
    assert analysis.output_values == {"square": 16} and analysis.finalised
    assert analysis.input_values_hash and analysis.configuration_values_hash
    assert all(m["progress"] in (0.5, 1.0) for m in messages)


async def test_apps_from_files_and_inputs_from_json(tmp_path: Path) -> None:
    await anyio.Path(tmp_path / "app.py").write_text(
        "def run(analysis):\n    analysis.output_values = {'square': analysis.input_values['n'] ** 2}\n"
    )
    await anyio.Path(tmp_path / "twine.json").write_text(json.dumps(TWINE))
    await anyio.Path(tmp_path / "values.json").write_text('{"n": 5}')
    runner = Runner(str(tmp_path), twine=str(tmp_path / "twine.json"))
    assert (await runner.run(input_values=str(tmp_path / "values.json"))).output_values == {"square": 25}
    assert (await runner.run(input_values='{"n": 6}')).output_values == {"square": 36}


async def test_bad_inputs_outputs_and_monitor_messages_are_typed_errors() -> None:
    runner = Runner(square, twine=TWINE, configuration_values={"scale": 1})
    with pytest.raises(TwineValidationError, match="input_values"):
        await runner.run(input_values={"n": "four"})

    async def bad_output(analysis: Analysis) -> None:
        analysis.output_values = {"square": "big"}

    with pytest.raises(TwineValidationError, match="output_values"):
        await Runner(bad_output, twine=TWINE).run(input_values={"n": 1})

    async def bad_monitor(analysis: Analysis) -> None:
        analysis.send_monitor_message({"percent": 3})

    with pytest.raises(TwineValidationError, match="monitor_message"):
        await Runner(bad_monitor, twine=TWINE).run(input_values={"n": 1})
    with pytest.raises(InvalidInputException, match="no app"):
        await Runner("no.such.module", twine=TWINE).run(input_values={"n": 1})


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_concurrent_analyses_keep_their_logs_apart(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # records below the process's logging levels are never made

    async def app(analysis: Analysis) -> None:
        for i in range(5):
            logging.getLogger("app").info("%s step %d", analysis.input_values["n"], i)
            await asyncio.sleep(0)
        analysis.output_values = {"square": 0}

    runner = Runner(app, twine=TWINE)
    handlers = [Collect() for _ in range(3)]
    root_handlers = list(logging.getLogger().handlers)
    formatters = [h.formatter for h in root_handlers]
    await asyncio.gather(*(runner.run(input_values={"n": n}, analysis_log_handler=h) for n, h in enumerate(handlers)))
    for n, handler in enumerate(handlers):
        assert handler.messages == [f"{n} step {i}" for i in range(5)]
    assert [h.formatter for h in root_handlers] == formatters  # nothing of the root logger's was changed


async def test_crash_diagnostics_are_saved_when_allowed(tmp_path: Path) -> None:
    async def crash(analysis: Analysis) -> None:
        raise RuntimeError("boom")

    runner = Runner(crash, twine=TWINE, crash_diagnostics_cloud_path=str(tmp_path / "diag"))
    with pytest.raises(RuntimeError, match="boom"):
        await runner.run(analysis_id="a1", input_values={"n": 2}, sent_messages=[{"kind": "monitor_message"}])
    saved = json.loads(await anyio.Path(tmp_path / "diag" / "a1" / "analysis.json").read_text())
    assert saved["input_values"] == {"n": 2}
    assert "boom" in await anyio.Path(tmp_path / "diag" / "a1" / "traceback.txt").read_text()
    with pytest.raises(RuntimeError):
        await runner.run(analysis_id="a2", input_values={"n": 2}, allow_save_diagnostics_data_on_crash=False)
    assert not await anyio.Path(tmp_path / "diag" / "a2").exists()


async def test_an_analysis_log_handler_gets_debug_records_and_leaves_logging_as_it_was() -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    mine = Collect()  # the user's own handler, on the root logger, at the process's level (WARNING)
    root.addHandler(mine)
    try:

        def app(analysis: Any) -> None:  # a sync app, in a worker thread
            log = logging.getLogger("my-app")
            log.debug("debug %d", 1)
            log.info("info %d", 2)
            log.warning("warning %d", 3)
            analysis.output_values = {"square": 0}

        collected = Collect()
        await Runner(app, twine=TWINE).run(input_values={"n": 1}, analysis_log_handler=collected,
                                           analysis_log_level=logging.DEBUG)  # fmt: skip
        assert collected.messages == ["debug 1", "info 2", "warning 3"]
        assert mine.messages == ["warning 3"]  # the process's handler saw what it would have seen anyway
        assert (root.level, [h for h in root.handlers if h is not mine]) == before  # nothing left behind
        assert not mine.filters
        logging.getLogger("my-app").warning("after")
        assert mine.messages == ["warning 3", "after"]
    finally:
        root.removeHandler(mine)
    assert not root.handlers or root.handlers == before[1]  # so logging.basicConfig() still configures
