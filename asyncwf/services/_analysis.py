"""Analysis: what an app gets for one question — validated values and manifests, children, and ways to report."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

import blake3

from asyncwf._ids import new_uuid
from asyncwf.data import Manifest
from asyncwf.data._labels import LabelSet, TagDict
from asyncwf.data._metadata import encode
from asyncwf.data._serialise import Serialisable, parse
from asyncwf.exceptions import InvalidInputException
from asyncwf.services._twine import Twine

__all__ = ["Analysis", "hash_value"]


#: Canonical JSON (sorted keys, no spaces), made once: ``json.dumps`` with options builds an encoder per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def hash_value(value: Any) -> str | None:
    """The BLAKE3 of a JSON value, canonically encoded (None for None)."""
    if value is None:
        return None
    return blake3.blake3(_CANONICAL.encode(encode(value)).encode()).hexdigest()


class Analysis(Serialisable):
    """One question being answered: the seed's attributes, hashes of the inputs, monitor messages, outputs.

    Built by :class:`~asyncwf.services.Runner` (which validates the data and
    computes the manifests' hashes); apps read ``input_values`` ...,
    set ``output_values`` / ``output_manifest``, and call
    :meth:`send_monitor_message`.
    """

    def __init__(
        self, twine: Twine | Mapping[str, Any] | str, handle_monitor_message: Callable[[Any], Any] | None = None,
        *, configuration_values: Any = None, configuration_manifest: Manifest | None = None,
        input_values: Any = None, input_manifest: Manifest | None = None, output_values: Any = None,
        output_manifest: Manifest | None = None, children: Mapping[str, Any] | None = None, id: str | None = None,
        name: str | None = None, tags: Mapping[str, Any] | None = None, labels: Any = None,
        output_location: str | None = None, manifest_hashes: Mapping[str, str | None] | None = None,
    ) -> None:  # fmt: skip
        self.twine = twine if isinstance(twine, Twine) else Twine(twine)
        self._handle_monitor_message = handle_monitor_message
        self.configuration_values = configuration_values
        self.configuration_manifest = configuration_manifest
        self.input_values = input_values
        self.input_manifest = input_manifest
        self.output_values = output_values
        self.output_manifest = output_manifest
        self.children = dict(children or {})
        self.id = id or new_uuid()
        self.name = name or self.id
        self.tags = TagDict(tags)
        self.labels = LabelSet(labels)
        self.output_location = output_location
        self.input_values_hash = hash_value(input_values)
        self.configuration_values_hash = hash_value(configuration_values)
        hashes = dict(manifest_hashes or {})
        self.input_manifest_hash = hashes.get("input_manifest")
        self.configuration_manifest_hash = hashes.get("configuration_manifest")
        self._finalised = False
        self._pending: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            pass

    @property
    def finalised(self) -> bool:
        """Whether the outputs were validated (and output datasets uploaded, if there was somewhere to)."""
        return self._finalised

    def add_labels(self, *args: Any) -> None:
        """Add labels to the analysis."""
        self.labels.update(*args)

    def add_tags(self, tags: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Add or replace tags of the analysis, from a mapping and/or keywords."""
        self.tags.update(tags or {}, **kwargs)

    def send_monitor_message(self, data: Any) -> None:
        """Send a monitor message (any JSON value) to whoever asked, after checking it against the twine.

        Callable from the app's own thread (a sync app) or the event loop; the
        handler may be a plain function or a coroutine function.
        """
        self.twine.validate("monitor_message", data)
        handler = self._handle_monitor_message
        if handler is None:
            return
        if inspect.iscoroutinefunction(handler) and self._loop is not None:
            try:
                here = asyncio.get_running_loop()
            except RuntimeError:
                here = None
            if here is self._loop:
                task = self._loop.create_task(handler(data))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            else:  # a sync app's thread: hand it to the loop
                asyncio.run_coroutine_threadsafe(handler(data), self._loop)
            return
        handler(data)

    async def finalise(self, upload_output_datasets_to: str | None = None) -> None:
        """Validate the outputs; upload output datasets (concurrently) to ``upload_output_datasets_to``, or
        else into ``<output_location>/<analysis id>/``, and replace their paths with signed URLs."""
        self.twine.validate("output_values", self.output_values)
        manifest = self.output_manifest
        self.twine.validate("output_manifest", None if manifest is None else manifest.to_primitive())
        location = upload_output_datasets_to or (
            f"{self.output_location.rstrip('/')}/{self.id}" if self.output_location else None
        )
        if manifest is not None and location is not None:
            if not location.startswith("gs://"):
                raise InvalidInputException(f"output datasets go to a gs:// location, not {location!r}")
            await asyncio.gather(*(
                dataset.upload(f"{location.rstrip('/')}/{key}", progress_bar=False)
                for key, dataset in manifest.datasets.items()
            ))  # fmt: skip
            self.output_manifest = await manifest.use_signed_urls_for_datasets()
        self._finalised = True

    def to_primitive(self) -> dict[str, Any]:
        """The analysis as JSON-able primitives (id, twine, values, manifests, tags, labels), as :meth:`to_file` writes
        it."""

        def manifest(value: Manifest | None) -> Any:
            return None if value is None else value.to_primitive()

        return {
            "id": self.id, "name": self.name, "tags": dict(self.tags), "labels": sorted(self.labels),
            "configuration_values": self.configuration_values,
            "configuration_manifest": manifest(self.configuration_manifest), "input_values": self.input_values,
            "input_manifest": manifest(self.input_manifest), "output_values": self.output_values,
            "output_manifest": manifest(self.output_manifest),
        }  # fmt: skip

    @classmethod
    def deserialise(cls, serialised_analysis: Mapping[str, Any] | str, from_string: bool = False,
                    twine: Twine | Mapping[str, Any] | str | None = None) -> Analysis:  # fmt: skip
        """An Analysis from :meth:`serialise`'s JSON (or its dict); manifests come back unloaded. ``twine``
        checks it (an empty twine when omitted: a record of an analysis, not one to run)."""
        data = parse(serialised_analysis, from_string)

        def manifest(key: str) -> Manifest | None:
            return None if data.get(key) is None else Manifest.deserialise(data[key])

        return cls(twine if twine is not None else {}, id=data.get("id"), name=data.get("name"),
                   tags=data.get("tags"), labels=data.get("labels"),
                   configuration_values=data.get("configuration_values"), input_values=data.get("input_values"),
                   output_values=data.get("output_values"), configuration_manifest=manifest("configuration_manifest"),
                   input_manifest=manifest("input_manifest"), output_manifest=manifest("output_manifest"))  # fmt: skip

    def __repr__(self) -> str:
        return f"<Analysis {self.id}>"
