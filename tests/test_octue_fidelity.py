"""Octue and XF behaviours that ported code relies on (issue list of the fidelity work), against real objects."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from asyncwf.data import Datafile, Dataset, Manifest
from asyncwf.data._labels import TagDict
from asyncwf.exceptions import ConfigurationError
from asyncwf.services import Analysis
from asyncwf.worker import XFWorkerArguments


async def test_extension_has_no_dot_and_filters_by_it(tmp_path: Path) -> None:
    await anyio.Path(tmp_path / "a.csv").write_text("x")
    await anyio.Path(tmp_path / "b.txt").write_text("y")
    await anyio.Path(tmp_path / "noext").write_text("z")
    dataset = await Dataset(str(tmp_path))
    assert sorted(f.extension for f in dataset.files) == ["", "csv", "txt"]
    assert [f.name for f in dataset.files.filter(extension__equals="csv")] == ["a.csv"]
    assert (await Datafile(str(tmp_path / "a.csv"))).extension == "csv"


async def test_nested_filter_paths_take_list_indices(tmp_path: Path) -> None:
    for name, coords in (("near.csv", [1, 2]), ("far.csv", [9, 2])):
        await anyio.Path(tmp_path / name).write_text("x")
        datafile = await Datafile(str(tmp_path / name), tags={"coords": coords})
        await datafile.update_local_metadata()
    dataset = await Dataset(str(tmp_path))
    assert [f.name for f in dataset.files.filter(tags__coords__0__gte=5)] == ["far.csv"]
    assert sorted(f.name for f in dataset.files.filter(tags__coords__1__equals=2)) == ["far.csv", "near.csv"]
    assert not dataset.files.filter(tags__coords__5__gte=0, ignore_items_without_attribute=True)


def test_tag_dicts_serialise_to_plain_dicts() -> None:
    tags = TagDict(a=1, b={"c": [1, 2]})
    assert tags.to_primitive() == {"a": 1, "b": {"c": [1, 2]}} and type(tags.to_primitive()) is dict


async def test_datasets_say_whether_they_are_in_the_cloud(tmp_path: Path) -> None:
    assert not (await Dataset(str(tmp_path))).exists_in_cloud
    assert Dataset("gs://bucket/data").exists_in_cloud


def test_xf_worker_arguments_read_the_environment_when_given_none(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="not run by an asyncwf worker"):
        XFWorkerArguments()
    for key, value in XFWorkerArguments(7, "xf.example", "8443", "token").environment().items():
        monkeypatch.setenv(key, value)
    assert XFWorkerArguments() == XFWorkerArguments(7, "xf.example", "8443", "token")


async def test_an_analysis_round_trips_through_json_and_files(tmp_path: Path) -> None:
    analysis = Analysis({}, input_values={"n": 3}, output_values={"square": 9}, tags={"run": "a"}, labels="x",
                        output_manifest=Manifest({"out": "gs://bucket/out"}))  # fmt: skip
    await analysis.to_file(str(tmp_path / "analysis.json"))
    text = await anyio.Path(tmp_path / "analysis.json").read_text()
    again = Analysis.deserialise(text, from_string=True)
    assert again.to_primitive() == analysis.to_primitive() and again.id == analysis.id
    assert isinstance(again.output_manifest, Manifest) and list(again.output_manifest.datasets) == ["out"]


def test_configurations_take_keyword_arguments_they_do_not_know() -> None:
    from asyncwf.blocking.services import ServiceConfiguration as BlockingServiceConfiguration
    from asyncwf.services import AppConfiguration, ServiceConfiguration

    service = ServiceConfiguration(name="svc", organisation="org", concurrency=4, made_by="octue-cli")
    assert service.service_id == "org/svc" and service.concurrency == 4 and service.extra == {"made_by": "octue-cli"}
    app = AppConfiguration(configuration_values={"a": 1}, flavour="vanilla")
    assert app.configuration_values == {"a": 1} and app.extra == {"flavour": "vanilla"}
    blocking = BlockingServiceConfiguration(name="svc", unknown=True)
    assert blocking.extra == {"unknown": True} and blocking.name == "svc"
