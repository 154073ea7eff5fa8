"""Datafile, Dataset and Manifest on the local file system (no cloud)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest

from asyncwf.data import Datafile, Dataset, Manifest, hash_file
from asyncwf.exceptions import (
    FileNotFound,
    InvalidInputException,
    NotLoadedError,
    UnexpectedNumberOfResultsException,
    UnsafePathError,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def test_metadata_needs_loading_and_stored_metadata_wins(tmp_path: Path) -> None:
    path = str(tmp_path / "a.csv")
    first = await Datafile(path, labels="raw", tags={"site": "n1"}, timestamp=0)
    async with first.open("w") as f:
        await f.write("1,2\n")
    unloaded = Datafile(path, labels="other")
    with pytest.raises(NotLoadedError, match="await"):
        _ = unloaded.labels
    loaded = await unloaded
    assert loaded is unloaded
    assert loaded.labels == {"raw"} and loaded.tags == {"site": "n1"} and loaded.id == first.id
    assert loaded.timestamp == dt.datetime(1970, 1, 1, tzinfo=dt.UTC) and loaded.posix_timestamp == 0.0
    ignoring = Datafile(path, labels="other", ignore_stored_metadata=True)
    assert ignoring.labels == {"other"}  # nothing to load: usable at once
    assert loaded.size_bytes == 4 and loaded.exists_locally and loaded.extension == "csv"


async def test_metadata_files_of_the_octue_sdk_are_read(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "hello")
    file_id = str(uuid.uuid4())
    (tmp_path / ".octue").write_text(json.dumps({
        "datafiles": {"b.txt": {
            "id": file_id, "timestamp": {"_type": "datetime", "value": "2024-03-15T12:00:00+00:00"},
            "tags": {"site": "s2"}, "labels": {"_type": "set", "items": ["a", "b"]}, "sdk_version": "0.69.1",
        }},
        "dataset": {"id": str(uuid.uuid4()), "name": "measurements", "tags": {}, "labels": ["x"]},
    }))  # fmt: skip
    datafile = await Datafile(str(tmp_path / "b.txt"))
    assert (datafile.id, datafile.labels, datafile.tags["site"]) == (file_id, {"a", "b"}, "s2")
    assert datafile.timestamp == dt.datetime(2024, 3, 15, 12, tzinfo=dt.UTC)
    dataset = await Dataset(str(tmp_path))
    assert dataset.name == "measurements" and dataset.labels == {"x"}
    assert dataset.files.one().id == file_id


async def test_datafile_open_read_write_and_bad_input(tmp_path: Path) -> None:
    datafile = await Datafile(str(tmp_path / "sub" / "new.txt"))
    async with datafile.open("w") as f:
        await f.write("abc")
    async with datafile.open() as f:
        assert await f.read() == "abc"
    async with Datafile(str(tmp_path / "sub" / "new.txt"), mode="a") as (same, f):
        await f.write("def")
    assert (tmp_path / "sub" / "new.txt").read_text() == "abcdef"
    assert same.id == datafile.id
    with pytest.raises(InvalidInputException, match="mode"):
        async with datafile.open("nonsense"):
            pass
    with pytest.raises(FileNotFound):
        async with (await Datafile(str(tmp_path / "missing.txt"))).open():
            pass
    for bad in ({"path": 3}, {"path": ""}, {"path": "a", "id": "not-a-uuid"}, {"path": "a", "timestamp": "soon"},
                {"path": "gs://Bad_Bucket!/x"}, {"path": "gs://bucket/../x"}):  # fmt: skip
        with pytest.raises(InvalidInputException):
            Datafile(**bad)  # type: ignore[arg-type]


async def test_a_local_file_named_http_is_local(tmp_path: Path) -> None:
    datafile = await Datafile(str(write(tmp_path / "http_data.csv", "x")))
    assert datafile.cloud_path is None and datafile.exists_locally


async def test_dataset_layout_recursion_and_filters(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv", "deep/c.csv", "deep/deeper/d.txt"):
        write(tmp_path / name, name)
    flat = await Dataset(str(tmp_path))
    assert sorted(f.name for f in flat.files) == ["a.csv", "b.csv"]
    full = await Dataset(str(tmp_path), recursive=True)
    assert len(full) == 4
    assert {full.relative_path(f) for f in full} == {"a.csv", "b.csv", "deep/c.csv", "deep/deeper/d.txt"}
    csvs = full.files.filter(name__ends_with=".csv")
    assert len(csvs) == 3
    c = full.files.one(name="c.csv")
    c.labels.add("special")
    await full.update_local_metadata()
    again = await Dataset(str(tmp_path), recursive=True)
    assert again.get_file_by_label("special").name == "c.csv"
    with pytest.raises(UnexpectedNumberOfResultsException):
        again.get_file_by_label("absent")
    assert json.loads((tmp_path / "deep" / ".octue").read_text())["datafiles"]["c.csv"]["labels"] == {
        "_type": "set", "items": ["special"]}  # fmt: skip


async def test_hashes_are_canonical_and_cached(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    write(one / "x", "content x")
    write(one / "y", "content y")
    write(two / "y", "content y")
    write(two / "x", "content x")  # same files, other order of creation
    h1, h2 = await (await Dataset(str(one))).calculate_hash(), await (await Dataset(str(two))).calculate_hash()
    assert h1 == h2
    write(two / "x", "content y")
    write(two / "y", "content x")  # the same two contents, swapped between the names
    assert await (await Dataset(str(two))).calculate_hash() != h1
    import blake3

    assert await hash_file(str(one / "x")) == blake3.blake3(b"content x").hexdigest()
    unloaded = await Datafile(str(one / "x"))
    with pytest.raises(NotLoadedError, match="calculate_hash"):
        _ = unloaded.hash_value
    await unloaded.calculate_hash()
    assert unloaded.hash_value == blake3.blake3(b"content x").hexdigest()


async def test_add_copies_in_and_rejects_escaping_paths(tmp_path: Path) -> None:
    dataset = await Dataset(str(write(tmp_path / "ds" / "a", "a").parent))
    outside = await Datafile(str(write(tmp_path / "elsewhere" / "b", "b")), labels="copied")
    await dataset.add(outside, path_in_dataset="sub/b2")
    assert (tmp_path / "ds" / "sub" / "b2").read_text() == "b"
    reread = await Dataset(str(tmp_path / "ds"), recursive=True)
    assert reread.files.one(name="b2").labels == {"copied"}
    for bad in ("../escape", "/abs/path", "a/../../b", "C:/x"):
        with pytest.raises(UnsafePathError):
            await dataset.add(outside, path_in_dataset=bad)
    with pytest.raises(InvalidInputException):
        await dataset.add("not a datafile")  # type: ignore[arg-type]
    assert not (tmp_path / "escape").exists()


async def test_serialisation_round_trips(tmp_path: Path) -> None:
    datafile = await Datafile(str(write(tmp_path / "ds" / "a", "a")), labels="l", tags={"k": 1}, timestamp=5)
    await datafile.update_local_metadata()
    copy = Datafile.deserialise(datafile.serialise(), from_string=True)
    assert (copy.id, copy.labels, copy.tags, copy.timestamp) == (datafile.id, {"l"}, {"k": 1}, datafile.timestamp)
    dataset = await Dataset(str(tmp_path / "ds"), labels="set-label")
    again = await Dataset.deserialise(dataset.serialise(), from_string=True)
    assert again.id == dataset.id and [f.id for f in again.files] == [datafile.id]
    await dataset.update_local_metadata()  # a manifest names datasets by path: their metadata must be stored
    manifest = await Manifest({"in": dataset, "other": str(tmp_path / "ds")}, name="m")
    restored = await Manifest.deserialise(manifest.serialise(), from_string=True)
    assert restored.get_dataset("in").path == dataset.path
    assert await restored.calculate_hash() == await manifest.calculate_hash()
    assert restored.metadata_hash_value == manifest.metadata_hash_value
    with pytest.raises(InvalidInputException, match="no dataset 'nope'"):
        manifest.get_dataset("nope")
    with pytest.raises(InvalidInputException):
        Manifest(datasets={"x": 3})
    with pytest.raises(InvalidInputException):
        Datafile.deserialise("{not json", from_string=True)
    path = tmp_path / "manifest.json"
    await manifest.to_file(str(path))
    assert json.loads(path.read_text())["datasets"]["in"] == str(tmp_path / "ds")
    assert restored.get_dataset("other").path == str(tmp_path / "ds")


async def test_a_dataset_of_a_missing_directory_says_so(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "no-such-dir"
    with caplog.at_level("WARNING", logger="asyncwf.data._dataset"):
        dataset = await Dataset(path=missing).load()
    assert len(dataset.files) == 0
    assert f"the dataset's directory {missing} does not exist" in caplog.text
    caplog.clear()
    missing.mkdir()
    with caplog.at_level("WARNING", logger="asyncwf.data._dataset"):
        await Dataset(path=missing).load()  # empty on purpose: no word
    assert caplog.text == ""
