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
