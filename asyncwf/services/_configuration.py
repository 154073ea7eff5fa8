"""Service and app configuration (the Octue SDK's ``octue.yaml`` and app configuration files)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

import anyio
import yaml

from asyncwf.exceptions import InvalidInputException

__all__ = ["AppConfiguration", "ServiceConfiguration", "load_service_and_app_configuration"]


@dataclasses.dataclass(init=False)
class ServiceConfiguration:
    """What a service needs to be served and deployed; unknown fields are kept in ``extra``."""

    name: str
    organisation: str | None = None
    app_source_path: str = "."
    twine_path: str = "twine.json"
    app_configuration_path: str | None = None
    crash_diagnostics_cloud_path: str | None = None
    repository_name: str | None = None
    repository_owner: str | None = None
    project_name: str | None = None
    region: str | None = None
    dockerfile_path: str | None = None
    cloud_build_configuration_path: str | None = None
    maximum_instances: int = 10
    branch_pattern: str = "^main$"
    environment_variables: list[dict[str, Any]] | None = None
    secrets: dict[str, Any] | None = None
    concurrency: int = 10
    memory: str = "128Mi"
    cpus: int = 1
    minimum_instances: int = 0
    temporary_files_location: str | None = None
    setup_file_path: str | None = None
    service_account_email: str | None = None
    machine_type: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __init__(
        self,
        name: str,
        organisation: str | None = None,
        app_source_path: str = ".",
        twine_path: str = "twine.json",
        app_configuration_path: str | None = None,
        crash_diagnostics_cloud_path: str | None = None,
        repository_name: str | None = None,
        repository_owner: str | None = None,
        project_name: str | None = None,
        region: str | None = None,
        dockerfile_path: str | None = None,
        cloud_build_configuration_path: str | None = None,
        maximum_instances: int = 10,
        branch_pattern: str = "^main$",
        environment_variables: list[dict[str, Any]] | None = None,
        secrets: dict[str, Any] | None = None,
        concurrency: int = 10,
        memory: str = "128Mi",
        cpus: int = 1,
        minimum_instances: int = 0,
        temporary_files_location: str | None = None,
        setup_file_path: str | None = None,
        service_account_email: str | None = None,
        machine_type: str | None = None,
        extra: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """The Octue SDK's signature; keyword arguments it does not know are kept in ``extra``."""
        self.name = name
        self.organisation = organisation
        self.app_source_path = app_source_path
        self.twine_path = twine_path
        self.app_configuration_path = app_configuration_path
        self.crash_diagnostics_cloud_path = crash_diagnostics_cloud_path
        self.repository_name = repository_name
        self.repository_owner = repository_owner
        self.project_name = project_name
        self.region = region
        self.dockerfile_path = dockerfile_path
        self.cloud_build_configuration_path = cloud_build_configuration_path
        self.maximum_instances = maximum_instances
        self.branch_pattern = branch_pattern
        self.environment_variables = environment_variables
        self.secrets = secrets
        self.concurrency = concurrency
        self.memory = memory
        self.cpus = cpus
        self.minimum_instances = minimum_instances
        self.temporary_files_location = temporary_files_location
        self.setup_file_path = setup_file_path
        self.service_account_email = service_account_email
        self.machine_type = machine_type
        self.extra = {**(extra or {}), **kwargs}
        self.__post_init__()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputException("a service configuration needs a name")
        if self.concurrency < 1 or self.maximum_instances < self.minimum_instances:
            raise InvalidInputException("concurrency is at least 1, and maximum_instances at least minimum_instances")

    @property
    def service_id(self) -> str:
        """``organisation/name`` (or just the name)."""
        return f"{self.organisation}/{self.name}" if self.organisation else self.name

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: str = "") -> ServiceConfiguration:
        """From a dict (relative paths are taken relative to ``base``)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        try:
            configuration = cls(**values, extra={k: v for k, v in data.items() if k not in known})
        except TypeError as exc:
            raise InvalidInputException(f"bad service configuration: {exc}") from exc
        for key in ("app_source_path", "twine_path", "app_configuration_path"):
            value = getattr(configuration, key)
            if isinstance(value, str) and base and not os.path.isabs(value):
                setattr(configuration, key, os.path.normpath(os.path.join(base, value)))
        return configuration

    @classmethod
    async def from_file(cls, path: str | os.PathLike[str]) -> ServiceConfiguration:
        """Read ``octue.yaml``-style YAML: the service is the first of ``services`` (or the whole document)."""
        data = await _read_yaml(path)
        if isinstance(data.get("services"), list) and data["services"]:
            data = data["services"][0]
        base = os.path.dirname(str(await anyio.Path(path).absolute()))
        return cls.from_mapping(data, base)


@dataclasses.dataclass(init=False)
class AppConfiguration:
    """The data that configures an app as a service: checked against the twine when the app runs."""

    configuration_values: Any = None
    configuration_manifest: Any = None
    children: Any = None
    output_location: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __init__(
        self, configuration_values: Any = None, configuration_manifest: Any = None, children: Any = None,
        output_location: str | None = None, extra: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """The Octue SDK's signature; keyword arguments it does not know are kept in ``extra``."""
        self.configuration_values = configuration_values
        self.configuration_manifest = configuration_manifest
        self.children = children
        self.output_location = output_location
        self.extra = {**(extra or {}), **kwargs}

    @classmethod
    async def from_file(cls, path: str | os.PathLike[str]) -> AppConfiguration:
        """Read a JSON (or YAML) app configuration file."""
        data = await _read_yaml(path)
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})  # fmt: skip


async def _read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        text = await anyio.Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputException(f"cannot read {os.fspath(path)!r}: {exc}") from exc
    try:
        data = json.loads(text) if os.fspath(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInputException(f"{os.fspath(path)!r} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputException(f"{os.fspath(path)!r} must hold a mapping")
    return data


async def load_service_and_app_configuration(
    service_configuration_path: str | os.PathLike[str],
) -> tuple[ServiceConfiguration, AppConfiguration]:
    """The service configuration, and the app configuration it refers to (an empty one if none)."""
    service = await ServiceConfiguration.from_file(service_configuration_path)
    if service.app_configuration_path is None:
        return service, AppConfiguration()
    return service, await AppConfiguration.from_file(service.app_configuration_path)
