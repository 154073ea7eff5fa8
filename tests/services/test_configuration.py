"""Service and app configuration files, monitor helpers and the log handler."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncwf.exceptions import InvalidInputException, TwineValidationError
from asyncwf.services import (
    Analysis,
    ServiceConfiguration,
    apply_log_handler,
    load_service_and_app_configuration,
    send_estimated_seconds_remaining,
    send_status_text,
)


async def test_service_and_app_configuration_from_files(tmp_path: Path) -> None:
    await anyio.Path(tmp_path / "octue.yaml").write_text(
        "services:\n  - name: squarer\n    organisation: org\n    app_configuration_path: app.json\n"
        "    concurrency: 4\n    region: europe-west1\n    custom_field: kept\n"
    )
    await anyio.Path(tmp_path / "app.json").write_text(
        '{"configuration_values": {"scale": 2}, "output_location": null}'
    )
    service, app = await load_service_and_app_configuration(str(tmp_path / "octue.yaml"))
    assert (service.service_id, service.concurrency, service.extra) == ("org/squarer", 4, {"custom_field": "kept"})
    assert service.twine_path == str(tmp_path / "twine.json")
    assert app.configuration_values == {"scale": 2}
    await anyio.Path(tmp_path / "bare.yaml").write_text("name: solo\n")
    alone, empty = await load_service_and_app_configuration(str(tmp_path / "bare.yaml"))
    assert alone.service_id == "solo" and empty.configuration_values is None
    await anyio.Path(tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(InvalidInputException):
        await ServiceConfiguration.from_file(str(tmp_path / "bad.yaml"))
    with pytest.raises(InvalidInputException):
        ServiceConfiguration(name="")


def test_monitor_helpers_go_through_the_twine() -> None:
    sent: list[Any] = []
    analysis = Analysis({"monitor_message_schema": {"type": "object", "required": ["type", "data"]}},
                        handle_monitor_message=sent.append)  # fmt: skip
    send_status_text(analysis, "halfway", "org/squarer")
    send_estimated_seconds_remaining(analysis, 12.5, "org/squarer")
    assert [m["type"] for m in sent] == ["status_text", "estimated_seconds_remaining"]
    strict = Analysis({"monitor_message_schema": {"type": "object", "required": ["progress"]}})
    with pytest.raises(TwineValidationError):
        send_status_text(strict, "x", "svc")


def test_apply_log_handler_formats_only_its_own_handler() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("asyncwf.test.apply")
    other = logging.StreamHandler(io.StringIO())
    other_format = other.formatter
    logger.addHandler(other)
    handler = apply_log_handler(logger=logger, handler=logging.StreamHandler(stream), include_line_number=True)
    try:
        logger.info("hello")
        assert "hello" in stream.getvalue() and "test_configuration.py" in stream.getvalue()
        assert other.formatter is other_format
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(other)


def test_the_services_api_runs_blocking() -> None:
    from asyncwf.blocking.services import ChildEmulator, Runner

    child = ChildEmulator(events=[{"kind": "result", "output_values": [1]}])
    assert child.ask(input_values=1) == {"output_values": [1], "output_manifest": None}
    assert len(child.ask_multiple({"input_values": 1}, {"input_values": 2})) == 2

    def app(analysis: Any) -> None:
        analysis.output_values = analysis.input_values * 2

    assert Runner(app, twine={}).run(input_values=21).output_values == 42


@pytest.mark.allow_blocking
def test_the_blocking_configuration_has_the_file_s_values(tmp_path: Path) -> None:
    from asyncwf.blocking.services import AppConfiguration, ServiceConfiguration, load_service_and_app_configuration

    (tmp_path / "octue.yaml").write_text(
        "services:\n  - name: squarer\n    app_configuration_path: app.json\n    concurrency: 4\n"
    )
    (tmp_path / "app.json").write_text('{"configuration_values": {"scale": 2}}')
    service, app = load_service_and_app_configuration(str(tmp_path / "octue.yaml"))
    assert isinstance(service, ServiceConfiguration) and isinstance(app, AppConfiguration)
    assert (service.name, service.concurrency, app.configuration_values) == ("squarer", 4, {"scale": 2})
    service.concurrency = 8  # plain assignment, seen by the async original
    assert service.concurrency == 8 and service._async.concurrency == 8
    built = ServiceConfiguration(name="direct", concurrency=3)  # a dataclass: keyword fields, factory defaults
    assert (built.concurrency, built.extra, built.service_id) == (3, {}, "direct")
