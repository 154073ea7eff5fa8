"""Composite parameters: how job inputs and outputs (files, images, sequences ...) are written down.

A parameter is a JSON object with a ``"type"``. Parameters with files name
them by ``filename`` (plus ``filenames`` for multi-file data and
``additional_files``) and say where they live: ``job_serial`` (the result
files of that job) or ``virtualpath`` (``@xfuserdata/...``). A ``Sequence``
parameter (``{"type": "Sequence", "task_serial": N, "output": "name"}``)
stands for one output of every done job of a task.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from asyncwf._xfpaths import check_relative_path, check_virtualpath
from asyncwf.exceptions import InvalidArgument

__all__ = ["OutputParameterBuilders", "create_parameter", "get_parameter_file_references"]

_TYPE_NAME_LIMIT = 100


def create_parameter(type_name: str, **kwargs: Any) -> dict[str, Any]:
    """A composite parameter ``{"type": type_name, **kwargs}`` (``None`` values are left out)."""
    if not isinstance(type_name, str) or not type_name or len(type_name) > _TYPE_NAME_LIMIT:
        raise InvalidArgument(f"a parameter type is a name of 1-{_TYPE_NAME_LIMIT} characters, not {type_name!r}")
    if "type" in kwargs:
        raise InvalidArgument("'type' is the parameter's type name, not a field")
    return {"type": type_name, **{key: value for key, value in kwargs.items() if value is not None}}


def _reference(entry: Any, parameter: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"filename": entry}
    if not isinstance(entry, Mapping):
        raise InvalidArgument(f"a file reference is a file name or an object with one, not {entry!r}")
    if "virtualpath" in entry:
        return {"virtualpath": check_virtualpath(entry["virtualpath"]) and entry["virtualpath"]}
    filename = check_relative_path(entry.get("filename", ""))
    source = entry.get("job_serial", parameter.get("job_serial"))
    if not isinstance(source, int) or isinstance(source, bool) or source < 1:
        raise InvalidArgument(f"the file {filename!r} has no job_serial saying which job's files hold it")
    return {"filename": filename, "job_serial": source}


def get_parameter_file_references(
    parameter: Mapping[str, Any], *, only_additional: bool = False
) -> list[dict[str, Any]]:
    """The files of a parameter: ``{"filename", "job_serial"}`` or ``{"virtualpath"}`` each, main file first,
    then ``filenames`` (multi-file data), then ``additional_files``; ``only_additional`` leaves out the main file."""
    if not isinstance(parameter, Mapping) or not isinstance(parameter.get("type"), str):
        raise InvalidArgument(f"a parameter is an object with a 'type', not {parameter!r}")
    entries: list[Any] = []
    if not only_additional:
        if "virtualpath" in parameter:
            entries.append({"virtualpath": parameter["virtualpath"]})
        elif "filename" in parameter:
            entries.append({"filename": parameter["filename"]})
    entries.extend(parameter.get("filenames") or ())
    entries.extend(parameter.get("additional_files") or ())
    references = [_reference(entry, parameter) for entry in entries]
    unique: dict[str, dict[str, Any]] = {}
    for ref in references:
        unique.setdefault(repr(sorted(ref.items())), ref)
    return list(unique.values())


def _name(filename: str | PurePath) -> str:
    if isinstance(filename, PurePath):
        filename = filename.name
    return check_relative_path(filename)


def _ints(values: Sequence[int], what: str, length: int | None = None) -> list[int]:
    if not isinstance(values, Sequence) or isinstance(values, str) or (length and len(values) != length):
        raise InvalidArgument(f"{what} is a list of {length or 'some'} integers, not {values!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InvalidArgument(f"{what} holds integers only, not {values!r}")
    return list(values)


def _floats(values: Sequence[float], what: str, lengths: tuple[int, ...]) -> list[float]:
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) not in lengths:
        raise InvalidArgument(f"{what} is a list of {' or '.join(map(str, lengths))} numbers, not {values!r}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise InvalidArgument(f"{what} holds finite numbers only, not {values!r}")
    return [float(v) for v in values]


def _composite(value: Any, what: str, optional: bool = False) -> dict[str, Any] | None:
    if value is None and optional:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        raise InvalidArgument(f"{what} is a composite parameter (an object with a 'type'), not {value!r}")
    return dict(value)


class OutputParameterBuilders:
    """The ``create_output_*`` family: composite output parameters whose files are this job's results."""

    job_serial: int

    def _file(self, type_name: str, filename: str | PurePath, **fields: Any) -> dict[str, Any]:
        return create_parameter(type_name, filename=_name(filename), job_serial=self.job_serial, **fields)

    def _files(self, names: Sequence[str | PurePath] | None) -> list[str] | None:
        return None if names is None else [_name(n) for n in names]

    def _additional(self, files: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
        if files is None:
            return None
        out = []
        for entry in files:
            ref = {"job_serial": self.job_serial, **entry} if isinstance(entry, Mapping) else entry
            out.append(_reference(ref, {}))
        return out

    def create_output_bitmap(self, filename: str | PurePath) -> dict[str, Any]:
        """A ``Bitmap`` output parameter for ``filename`` (a file of this job's results)."""
        return self._file("Bitmap", filename)

    def create_output_csv(self, filename: str | PurePath) -> dict[str, Any]:
        """A ``CSV`` output parameter for ``filename`` (a file of this job's results)."""
        return self._file("CSV", filename)

    def create_output_foreign_file(self, filename: str | PurePath) -> dict[str, Any]:
        """A ``ForeignFile`` output parameter for ``filename`` (any file format)."""
        return self._file("ForeignFile", filename)

    def create_output_html_document(self, filename: str | PurePath) -> dict[str, Any]:
        """An ``HTMLDocument`` output parameter for ``filename``."""
        return self._file("HTMLDocument", filename)

    def create_output_snapshot_metadata(self, filename: str | PurePath) -> dict[str, Any]:
        """A ``SnapshotMetadata`` output parameter for ``filename``."""
        return self._file("SnapshotMetadata", filename)

    def create_output_contours(self, filename: str | PurePath, image: dict[str, Any]) -> dict[str, Any]:
        """A ``Contours`` output parameter for ``filename``, drawn on ``image`` (an Image parameter)."""
        return self._file("Contours", filename, image=_composite(image, "image"))

    def create_output_video(self, filename: str | PurePath, bitmap: dict[str, Any] | None = None) -> dict[str, Any]:
        """A ``Video`` output parameter for ``filename``, with an optional ``bitmap`` (a Bitmap parameter)."""
        return self._file("Video", filename, bitmap=_composite(bitmap, "bitmap", optional=True))

    def create_output_entity(self, uuid: str, name: str) -> dict[str, Any]:
        """An ``Entity`` output parameter naming the entity ``uuid`` as ``name``."""
        if not isinstance(uuid, str) or not uuid or not isinstance(name, str):
            raise InvalidArgument("an entity parameter needs the entity's uuid and a name")
        return create_parameter("Entity", uuid=uuid, name=name)

    def create_output_image(
        self, filename: str | PurePath, size: list[int], filenames: list[str] | None = None,
        additional_files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """An ``Image`` output parameter for ``filename`` of ``size`` voxels, with its other files."""
        return self._file("Image", filename, size=_ints(size, "size"), filenames=self._files(filenames),
                          additional_files=self._additional(additional_files))  # fmt: skip

    def create_output_mesh(
        self, filename: str | PurePath, filenames: list[str] | None = None,
        additional_files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A ``Mesh`` output parameter for ``filename``, with its other files."""
        return self._file("Mesh", filename, filenames=self._files(filenames),
                          additional_files=self._additional(additional_files))  # fmt: skip

    def create_output_gi_result(self, snapshot: dict[str, Any], gi_image: dict[str, Any]) -> dict[str, Any]:
        """A ``GIResult`` output parameter of a ``snapshot`` and a ``gi_image``."""
        return create_parameter("GIResult", snapshot=_composite(snapshot, "snapshot"),
                                gi_image=_composite(gi_image, "gi_image"))  # fmt: skip

    def create_output_image_pair_list(self, pairs: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """An ``ImagePairList`` output parameter of ``[image, image]`` pairs."""
        if not isinstance(pairs, list) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
            raise InvalidArgument("pairs is a list of [image, image] pairs")
        return create_parameter("ImagePairList", pairs=[[_composite(a, "image"), _composite(b, "image")]
                                                        for a, b in pairs])  # fmt: skip

    def create_output_image_voi(
        self, pos: list[int], size: list[int], image: dict[str, Any], name: str | None = None,
        category: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """An ``ImageVOI`` output parameter: a volume of ``image`` at ``pos`` (voxels) of ``size``."""
        return create_parameter("ImageVOI", pos=_ints(pos, "pos", 3), size=_ints(size, "size", 3),
                                image=_composite(image, "image"), name=name, category=category)  # fmt: skip

    def create_output_rotated_image_voi(
        self, pos_mm: list[float], size_mm: list[float], size: list[int], rotation: list[float],
        image: dict[str, Any], name: str | None = None, category: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A ``RotatedImageVOI`` output parameter: a rotated volume of ``image`` in millimetres."""
        return create_parameter(
            "RotatedImageVOI", pos_mm=_floats(pos_mm, "pos_mm", (3,)), size_mm=_floats(size_mm, "size_mm", (3,)),
            size=_ints(size, "size", 3), rotation=_floats(rotation, "rotation", (3, 4, 9)),
            image=_composite(image, "image"), name=name, category=category,
        )  # fmt: skip

    def create_output_registration_result(
        self, transform: list[float], *, image1: dict[str, Any] | None = None, image2: dict[str, Any] | None = None,
        mesh1: dict[str, Any] | None = None, mesh2: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A ``RegistrationResult`` output parameter: ``transform`` between images and/or meshes."""
        given = {"image1": image1, "image2": image2, "mesh1": mesh1, "mesh2": mesh2}
        parts = {key: _composite(value, key, optional=True) for key, value in given.items()}
        return create_parameter("RegistrationResult", transform=_floats(transform, "transform", (12, 16)), **parts)

    def create_output_snapshot(
        self, bitmap: dict[str, Any], image: dict[str, Any] | None = None, image2: dict[str, Any] | None = None,
        mesh: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
        video: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A ``Snapshot`` output parameter of a ``bitmap`` and what it shows."""
        given = {"image": image, "image2": image2, "mesh": mesh, "metadata": metadata, "video": video}
        parts = {key: _composite(value, key, optional=True) for key, value in given.items()}
        return create_parameter("Snapshot", bitmap=_composite(bitmap, "bitmap"), **parts)

    def create_output_spectra(
        self, amplitudes_image: dict[str, Any], wavelength_image: dict[str, Any]
    ) -> dict[str, Any]:
        """A ``Spectra`` output parameter of an amplitudes image and a wavelength image."""
        return create_parameter("Spectra", amplitudes_image=_composite(amplitudes_image, "amplitudes_image"),
                                wavelength_image=_composite(wavelength_image, "wavelength_image"))  # fmt: skip
