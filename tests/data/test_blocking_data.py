"""The data API through asyncwf.blocking: the same classes, synchronous, loaded by their constructors."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncwf.blocking.data import Datafile, Dataset, Manifest
from asyncwf.exceptions import UnexpectedNumberOfResultsException


def test_blocking_datafiles_and_datasets(tmp_path: Path, gcs_bucket: str) -> None:
    (tmp_path / "ds").mkdir()
    datafile = Datafile(str(tmp_path / "ds" / "a.txt"), labels="first")
    with datafile.open("w") as f:
        f.write("hello")
    assert Datafile(str(tmp_path / "ds" / "a.txt")).labels == {"first"}  # loaded by the constructor
    dataset = Dataset(str(tmp_path / "ds"))
    assert len(dataset) == 1 and [f.name for f in dataset] == ["a.txt"]
    found = dataset.files.filter(labels__contains="first").one()
    assert found.name == "a.txt"
    with pytest.raises(UnexpectedNumberOfResultsException):
        dataset.get_file_by_label("absent")
    cloud = Dataset(dataset.upload(f"gs://{gcs_bucket}/blocking", progress_bar=False))
    assert cloud.files.one(name="a.txt").labels == {"first"}
    assert cloud.calculate_hash() == dataset.calculate_hash()
    manifest = Manifest({"in": cloud.path})
    assert manifest.get_dataset("in").name == "blocking"
    out = Path(cloud.download(str(tmp_path / "out")))
    assert (out / "a.txt").read_text() == "hello"


@pytest.mark.allow_blocking
def test_properties_do_their_io_in_the_blocking_api_as_in_octue(tmp_path: Path, gcs_bucket: str) -> None:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "a.txt").write_text("hello")
    uploaded = Dataset(str(tmp_path / "ds")).upload(f"gs://{gcs_bucket}/props", progress_bar=False)
    cloud_file = Datafile(f"{uploaded}/a.txt")
    local = Path(cloud_file.local_path)  # downloaded on first access
    assert local.read_text() == "hello" and cloud_file.path == str(local)
    fresh = Datafile(f"{uploaded}/a.txt")
    assert len(fresh.hash_value) == 64  # computed on first access
    dataset = Dataset(uploaded)
    dataset.reset_hash()
    assert dataset.hash_value == Dataset(str(tmp_path / "ds")).hash_value
    manifest = Manifest({"in": uploaded})
    assert len(manifest.hash_value) == 64


async def test_async_properties_say_which_coroutine_to_await(tmp_path: Path, gcs_bucket: str) -> None:
    import anyio

    from asyncwf.data import Datafile as AsyncDatafile
    from asyncwf.data import Dataset as AsyncDataset
    from asyncwf.exceptions import NotLoadedError

    await anyio.Path(tmp_path / "b.txt").write_text("x")
    uploaded = await (await AsyncDatafile(str(tmp_path / "b.txt"))).upload(f"gs://{gcs_bucket}/props2/b.txt")
    remote = await AsyncDatafile(uploaded)
    with pytest.raises(NotLoadedError, match=r"await datafile.download\(\)"):
        _ = remote.local_path
    dataset = await AsyncDataset(str(tmp_path))
    dataset.reset_hash()
    with pytest.raises(NotLoadedError, match=r"calculate_hash\(\)"):
        _ = dataset.hash_value
