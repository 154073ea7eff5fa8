"""Twine: a service's data interface (its strands), and validation of data against it with jsonschema.

The schemas a twine's own shape, serialised manifests and children data are
checked with ship inside the package (``schemas/``): nothing is fetched at run
time (the Octue SDK fetched manifest and children schemas from the network,
so validation failed offline).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

import anyio
import jsonschema
import referencing.exceptions
from jsonschema import Draft202012Validator

from asyncwf.exceptions import InvalidInputException, TwineValidationError

try:  # (a dependency; should a platform lack its wheel, jsonschema alone validates)
    import jsonschema_rs
except ImportError:  # pragma: no cover
    jsonschema_rs = None  # type: ignore[assignment]

__all__ = ["MANIFEST_STRANDS", "STRANDS", "VALUES_STRANDS", "Twine"]

VALUES_STRANDS = ("input_values", "configuration_values", "output_values", "monitor_message")
MANIFEST_STRANDS = ("input_manifest", "configuration_manifest", "output_manifest")
STRANDS = (*VALUES_STRANDS, *MANIFEST_STRANDS, "children", "credentials")


class _Validator:
    """A schema's validators: jsonschema-rs answers "valid?" (~25x faster), jsonschema explains what is not.

    A schema jsonschema-rs cannot compile, and data it cannot read (keys that are not strings), go
    to jsonschema alone. Remote references are never fetched by either.
    """

    __slots__ = ("fast", "full")

    def __init__(self, schema: Any) -> None:
        self.full = Draft202012Validator(schema)
        self.fast: Any = None
        if jsonschema_rs is not None:
            with contextlib.suppress(ValueError, TypeError):
                self.fast = jsonschema_rs.Draft202012Validator(schema, validate_formats=False, offline=True)

    def first_error(self, data: Any) -> Any:
        """None when ``data`` is valid; else jsonschema's best match among its errors."""
        if self.fast is not None:
            try:
                if self.fast.is_valid(data):
                    return None
            except (ValueError, TypeError):
                pass
        if self.full.is_valid(data):
            return None
        return jsonschema.exceptions.best_match(self.full.iter_errors(data))


def _load_bundled() -> dict[str, _Validator]:
    folder = resources.files("asyncwf.services").joinpath("schemas")
    return {
        name: _Validator(json.loads(folder.joinpath(f"{name}.json").read_text(encoding="utf-8")))
        for name in ("twine", "manifest", "children")
    }


#: Read when the module is imported (not on the event loop later).
_BUNDLED = _load_bundled()


def _bundled(name: str) -> _Validator:
    return _BUNDLED[name]


def _where(error: Any) -> str:
    return "/" + "/".join(str(p) for p in error.absolute_path)


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInputException(f"the twine is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputException("a twine is a JSON object")
    return data


class Twine:
    """A twine from a dict, a JSON string or the path of a JSON file (read with :meth:`from_file`).

    ``Twine(source)`` accepts a dict or JSON text; a path is read by the
    awaitable :meth:`from_file` (the constructor does no I/O), or by
    ``Twine(path)`` in synchronous code outside an event loop.
    """

    def __init__(self, source: Mapping[str, Any] | str | Twine | None = None, **strands: Any) -> None:
        if isinstance(source, Twine):
            data: Any = dict(source.data)
        elif source is None:
            data = {}
        elif isinstance(source, Mapping):
            data = dict(source)
        elif isinstance(source, str):
            data = self._parse(source)
        else:
            raise InvalidInputException(f"a twine is a dict, JSON text or a path, not {type(source).__name__}")
        data.update(strands)
        known = {f"{s}_schema" if s in VALUES_STRANDS else s for s in STRANDS} | {"$schema", "title", "description"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputException(f"unknown twine strands: {', '.join(unknown)} (the strands: {sorted(known)})")
        errors = sorted(_bundled("twine").full.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            raise TwineValidationError("twine", _where(errors[0]), errors[0].message)
        for strand in VALUES_STRANDS:
            schema = data.get(f"{strand}_schema")
            if schema is not None:
                try:
                    Draft202012Validator.check_schema(schema)
                except jsonschema.SchemaError as exc:
                    raise TwineValidationError(f"{strand}_schema", _where(exc), exc.message) from exc
        self.data: dict[str, Any] = data
        self._validators = {
            strand: _Validator(data[f"{strand}_schema"])
            for strand in VALUES_STRANDS
            if data.get(f"{strand}_schema") is not None
        }

    @staticmethod
    def _parse(text: str) -> dict[str, Any]:
        stripped = text.lstrip()
        if not stripped.startswith("{"):
            # A path: allowed in synchronous code (blocking); async code uses Twine.from_file.
            try:
                with open(os.fspath(text), encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise InvalidInputException(f"cannot read the twine at {text!r}: {exc}") from exc
        return _json_object(text)

    @classmethod
    async def from_file(cls, path: str | os.PathLike[str]) -> Twine:
        """Read a twine from a JSON file (off the event loop)."""
        try:
            text = await anyio.Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputException(f"cannot read the twine at {os.fspath(path)!r}: {exc}") from exc
        return cls(_json_object(text))

    @property
    def available_strands(self) -> tuple[str, ...]:
        """The strands this twine defines."""
        present = {name.removesuffix("_schema") for name in self.data}
        return tuple(s for s in STRANDS if s in present)

    def has(self, strand: str) -> bool:
        """Whether the twine declares ``strand`` (``"input_values"``, ``"output_manifest"`` ...)."""
        return strand in self.available_strands

    def validate(self, strand: str, data: Any) -> Any:
        """Check ``data`` against a strand; returns it, or raises TwineValidationError naming the path."""
        if strand not in STRANDS:
            raise InvalidInputException(f"unknown strand {strand!r}")
        if strand in VALUES_STRANDS:
            if data is None:
                return None  # not given: nothing to check (an app may produce no output values)
            validator = self._validators.get(strand)
            if validator is None:
                return data  # no schema: no constraint
            self._first_error(strand, validator, data)
        elif strand in MANIFEST_STRANDS:
            self._validate_manifest(strand, data)
        elif strand == "children":
            self._first_error(strand, _bundled("children"), data)
            expected = {c["key"] for c in self.data.get("children", [])}
            given = {c["key"] for c in data}
            if expected - given:
                raise TwineValidationError(strand, "/", f"children missing: {', '.join(sorted(expected - given))}")
        else:  # credentials: names that must be set in the environment
            missing = [c["name"] for c in self.data.get("credentials", []) if c["name"] not in os.environ]
            if missing:
                raise TwineValidationError(strand, "/", f"credentials not set: {', '.join(missing)}")
        return data

    def _first_error(self, strand: str, validator: _Validator, data: Any) -> None:
        try:
            error = validator.first_error(data)
        except referencing.exceptions.Unresolvable as exc:
            raise TwineValidationError(
                f"{strand}_schema" if strand in VALUES_STRANDS else strand, "/",
                f"the schema refers to {exc}, which is not available (references are never fetched)",
            ) from exc  # fmt: skip
        if error is not None:
            raise TwineValidationError(strand, _where(error), error.message)

    def _validate_manifest(self, strand: str, data: Any) -> None:
        spec = self.data.get(strand)
        if data is None:
            if spec is not None and not spec.get("optional", False):
                raise TwineValidationError(strand, "/", "this manifest is required")
            return
        if spec is None:
            raise TwineValidationError(strand, "/", "the twine has no such manifest strand")
        self._first_error(strand, _bundled("manifest"), data)
        missing = sorted(set(spec.get("datasets", {})) - set(data["datasets"]))
        if missing:
            raise TwineValidationError(strand, "/datasets", f"datasets missing: {', '.join(missing)}")

    def __repr__(self) -> str:
        return f"<Twine {', '.join(self.available_strands) or 'without strands'}>"
