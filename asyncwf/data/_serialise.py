"""What Datafile, Dataset and Manifest share: JSON serialisation to strings and files, and parsing it back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio

from asyncwf.exceptions import InvalidInputException

__all__ = ["Serialisable", "parse"]


class Serialisable:
    """``serialise`` and ``to_file`` from a class's ``to_primitive``."""

    def to_primitive(self) -> dict[str, Any]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def serialise(self, **kwargs: Any) -> str:
        """The primitive form as a JSON string (``kwargs`` go to ``json.dumps``)."""
        return json.dumps(self.to_primitive(), **kwargs)

    async def to_file(self, filename: str, **kwargs: Any) -> None:
        """Write :meth:`serialise`'s JSON to ``filename``."""
        await anyio.Path(filename).write_text(self.serialise(**kwargs))


def parse(value: Mapping[str, Any] | str, from_string: bool) -> dict[str, Any]:
    """A serialised object as a dict, from a dict or a JSON string."""
    if from_string or isinstance(value, str):
        try:
            value = json.loads(value)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise InvalidInputException(f"not JSON: {exc}") from exc
    if not isinstance(value, Mapping):
        raise InvalidInputException(f"expected a JSON object, not {type(value).__name__}")
    return dict(value)
