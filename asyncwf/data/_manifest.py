"""Manifest: named datasets going into or out of an analysis."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Generator, Mapping
from typing import Any

import blake3

from asyncwf._concurrency import gather_bounded
from asyncwf.data import _metadata
from asyncwf.data._datafile import _identifier, sdk_version
from asyncwf.data._dataset import DEFAULT_CONCURRENCY, Dataset
from asyncwf.data._gcs import cloud_storage
from asyncwf.data._hashing import combine
from asyncwf.data._paths import split_cloud_path
from asyncwf.data._serialise import Serialisable, parse
from asyncwf.exceptions import InvalidInputException, NotLoadedError

__all__ = ["Manifest"]


def _dataset_from(value: Any) -> Dataset:
    if isinstance(value, Dataset):
        return value
    if isinstance(value, Mapping):
        return Dataset.deserialise(value)
    if isinstance(value, str | os.PathLike):
        return Dataset(path=value, recursive=True)  # a dataset named by its path is the whole tree
    raise InvalidInputException(f"a manifest's datasets are Datasets, serialised datasets or paths, not {value!r}")


class Manifest(Serialisable):
    """Datasets by key (instances, serialised datasets or paths); await it to load them all."""

    def __init__(self, datasets: Mapping[str, Any] | None = None, id: str | None = None,
                 name: str | None = None) -> None:  # fmt: skip
        if datasets is not None and not isinstance(datasets, Mapping):
            raise InvalidInputException("datasets are given as a mapping of key -> dataset")
        self._id = _identifier(id)
        self.name = name
        self.datasets: dict[str, Dataset] = {}
        for key, value in (datasets or {}).items():
            if not isinstance(key, str) or not key:
                raise InvalidInputException(f"dataset keys are non-empty strings, not {key!r}")
            self.datasets[key] = _dataset_from(value)

    def __await__(self) -> Generator[Any, None, Manifest]:
        return self.load().__await__()

    async def load(self) -> Manifest:
        """Load every dataset (a few at a time); returns self."""
        await gather_bounded(self.datasets.values(), lambda d: d.load(), DEFAULT_CONCURRENCY)
        return self

    @property
    def id(self) -> str:
        """The manifest's UUID."""
        return self._id

    def get_dataset(self, key: str) -> Dataset:
        """The dataset under ``key``; ``InvalidInputException`` naming the keys there are if none."""
        try:
            return self.datasets[key]
        except KeyError:
            raise InvalidInputException(
                f"no dataset {key!r} in the manifest (it has: {', '.join(sorted(self.datasets)) or 'none'})"
            ) from None

    @property
    def all_datasets_are_in_cloud(self) -> bool:
        """Whether every file of every dataset exists in the cloud."""
        return all(d.all_files_are_in_cloud for d in self.datasets.values())

    def prepare(self, data: Mapping[str, Any]) -> Manifest:
        """Add an empty dataset for each key of a manifest strand's ``datasets`` not already here."""
        datasets = data.get("datasets", {}) if isinstance(data, Mapping) else None
        if not isinstance(datasets, Mapping):
            raise InvalidInputException("prepare() takes a manifest spec: {'datasets': {key: {...}}}")
        for key, spec in datasets.items():
            if key not in self.datasets:
                name = spec.get("name", key) if isinstance(spec, Mapping) else key
                dataset = Dataset(name=name, files=[])
                self.datasets[key] = dataset
        return self

    async def use_signed_urls_for_datasets(
        self, expiration: dt.datetime | dt.timedelta = dt.timedelta(days=7)
    ) -> Manifest:
        """Replace this manifest's cloud datasets by signed URLs to them, in place (as the Octue SDK does), and
        return it. Local datasets stay as they are (sign them through a backend with
        ``Dataset.generate_signed_url(client=...)``). The URLs are all made before any dataset is replaced.
        """
        signed = {key: await dataset.generate_signed_url(expiration) for key, dataset in self.datasets.items()
                  if dataset.is_in_cloud}  # fmt: skip
        for key, url in signed.items():
            self.datasets[key] = Dataset(path=url)
        return self

    # --- cloud ------------------------------------------------------------------------

    @classmethod
    async def from_cloud(cls, cloud_path: str) -> Manifest:
        """Read a serialised manifest from ``gs://...`` and load its datasets."""
        split_cloud_path(cloud_path)
        raw = await (await cloud_storage()).download_bytes(cloud_path)
        return await cls.deserialise(raw.decode(), from_string=True).load()

    async def to_cloud(self, cloud_path: str) -> None:
        """Write the serialised manifest to ``gs://...``."""
        split_cloud_path(cloud_path)
        await (await cloud_storage()).upload_bytes(self.serialise().encode(), cloud_path,
                                                   content_type="application/json")  # fmt: skip

    # --- hashes and metadata --------------------------------------------------------------

    async def calculate_hash(self) -> str:
        """The canonical BLAKE3 of the manifest: its keys and their datasets' hashes."""
        keys = list(self.datasets)
        hashes = await gather_bounded(keys, lambda k: self.datasets[k].calculate_hash(), DEFAULT_CONCURRENCY)
        return combine(zip(keys, hashes, strict=True))

    @property
    def hash_value(self) -> str:
        """The manifest's hash once its datasets' are known (see :meth:`calculate_hash`)."""
        try:
            return combine((k, d.hash_value) for k, d in self.datasets.items())
        except NotLoadedError as exc:
            raise NotLoadedError(f"{exc} (or `await manifest.calculate_hash()`)", load=self.calculate_hash) from exc

    def reset_hash(self) -> None:
        """Forget the datasets' file hashes (the next :meth:`calculate_hash` reads them again)."""
        for dataset in self.datasets.values():
            dataset.reset_hash()

    def metadata(self, include_id: bool = True, include_sdk_version: bool = True, **kwargs: Any) -> dict[str, Any]:
        """The manifest's own metadata: its name, and optionally its id and the SDK version."""
        data: dict[str, Any] = {"name": self.name}
        if include_id:
            data["id"] = self._id
        if include_sdk_version:
            data["sdk_version"] = sdk_version()
        return data

    @property
    def metadata_hash_value(self) -> str:
        """The BLAKE3 of the manifest's and its datasets' metadata, ids left out."""
        try:
            datasets = {k: d.metadata(include_id=False, include_sdk_version=False) for k, d in self.datasets.items()}
        except NotLoadedError as exc:
            raise NotLoadedError(f"{exc} (await the Manifest first)") from exc
        return self.hash_non_class_object({"name": self.name, "datasets": datasets})

    @classmethod
    def hash_non_class_object(cls, object_: Any) -> str:
        """The BLAKE3 of any JSON-able value, canonically encoded (sorted keys; sets sorted)."""
        text = json.dumps(_metadata.encode(object_), sort_keys=True, separators=(",", ":"))
        return blake3.blake3(text.encode()).hexdigest()

    # --- serialisation -------------------------------------------------------------------

    def to_primitive(self) -> dict[str, Any]:
        """The manifest with each dataset as its path (cloud or local)."""
        return {"id": self._id, "name": self.name, "datasets": {k: d.path for k, d in self.datasets.items()}}

    @classmethod
    def deserialise(cls, serialised_object: Mapping[str, Any] | str, from_string: bool = False) -> Manifest:
        """A manifest from its serialised form (a mapping, or JSON text with ``from_string``); datasets load when
        awaited."""
        data = parse(serialised_object, from_string)
        datasets = data.get("datasets") or {}
        if isinstance(datasets, list):  # an old form: a list of serialised datasets
            datasets = {d.get("name") or str(i): d for i, d in enumerate(datasets)}
        return cls(datasets=datasets, id=data.get("id"), name=data.get("name"))

    def __repr__(self) -> str:
        return f"<Manifest {self.name or self._id} ({', '.join(self.datasets)})>"
