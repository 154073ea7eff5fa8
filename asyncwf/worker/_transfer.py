"""Moving files through the XF file service: direct access on a shared filesystem, streaming otherwise."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio

from asyncwf._xfpaths import check_relative_path, check_virtualpath
from asyncwf.exceptions import InvalidArgument, NotFound, PermissionDenied, TransferError
from asyncwf.worker._connection import AuthorizationToken, Connection, serial_of
from asyncwf.worker._parameters import get_parameter_file_references
from asyncwf.worker._queries import get_parameter_file_token, get_xf_job_result_token, get_xf_userdata_token
from asyncwf.worker._tempdir import TemporaryWorkingDirectory

__all__ = ["FileTransfers", "area_url", "download", "locate", "upload", "upload_xf_userdata_file", "userdata_url"]

_CHUNK = 1 << 20


def area_url(token: AuthorizationToken, area: str, serial: int, filename: str) -> str:
    return f"{token.url}/v1/xf/files/{area}/{serial}/{quote(check_relative_path(filename))}"


def userdata_url(token: AuthorizationToken, virtualpath: str) -> str:
    return f"{token.url}/v1/xf/userdata/{quote(check_virtualpath(virtualpath))}"


def _client_errors() -> tuple[type[Exception], ...]:
    import aiohttp  # imported on first use, like the session (see Connection.http)

    return (aiohttp.ClientError,)


def _raise_for(status: int, url: str, text: str) -> None:
    if status in (200, 201):
        return
    message = f"{text.strip() or 'HTTP ' + str(status)} ({url.split('?')[0]})"
    if status == 404:
        raise NotFound(message)
    if status in (401, 403):
        raise PermissionDenied(message)
    if status == 400:
        raise InvalidArgument(message)
    raise TransferError(message, status)


def _same_file(path: str, local_id: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return f"{st.st_dev}:{st.st_ino}" == local_id


async def locate(conn: Connection, token: AuthorizationToken, url: str) -> tuple[bool, Path | None]:
    """HEAD ``url``: (the file exists, its path here if this machine shares the backend's filesystem).

    For a file that does not exist yet and a token that may write, the path is
    where writing it directly puts it (its folder is what must be shared).
    """
    try:
        async with conn.http.head(url, headers=token.headers) as response:
            if response.status not in (200, 404):
                _raise_for(response.status, url, response.headers.get("X-XF-Error", ""))
            path, local_id = response.headers.get("X-XF-Local-Path"), response.headers.get("X-XF-Local-Id", "")
    except _client_errors() as exc:
        raise TransferError(f"the file service is unreachable: {exc}") from exc
    exists = response.status == 200
    if not path or not local_id:
        return exists, None
    probe = path if exists else os.path.dirname(path)
    shared = await anyio.to_thread.run_sync(_same_file, probe, local_id)
    return exists, Path(path) if shared else None


async def download(conn: Connection, token: AuthorizationToken, url: str, destination: Path) -> Path:
    """GET ``url`` into ``destination`` (through a temporary file: a broken transfer leaves nothing)."""
    part = destination.with_name(f".{destination.name}.part-{secrets.token_hex(4)}")
    try:
        async with conn.http.get(url, headers=token.headers) as response:
            if response.status != 200:
                _raise_for(response.status, url, await response.text())
            await anyio.Path(destination.parent).mkdir(parents=True, exist_ok=True)
            async with await anyio.open_file(part, "wb") as f:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    await f.write(chunk)
        await anyio.to_thread.run_sync(os.replace, part, destination)
    except _client_errors() as exc:
        raise TransferError(f"downloading {url.split('?')[0]} failed: {exc}") from exc
    finally:
        await anyio.Path(part).unlink(missing_ok=True)
    return destination


async def upload_xf_userdata_file(conn: Connection, local_path: Path | str, virtualpath: str) -> None:
    """Store a local file at ``virtualpath`` (``@xfuserdata/...``), where a job's file parameter can name
    it: ``{"type": "CSV", "filename": "numbers.csv", "virtualpath": "@xfuserdata/numbers.csv"}``."""
    token = await get_xf_userdata_token(conn, [(virtualpath, "rw")])
    await upload(conn, token, userdata_url(token, virtualpath), Path(local_path))


async def upload(conn: Connection, token: AuthorizationToken, url: str, source: Path) -> None:
    """PUT the file ``source`` to ``url``, streamed."""
    try:
        f = await anyio.open_file(source, "rb")
    except FileNotFoundError as exc:
        raise InvalidArgument(f"no file to upload at {source}") from exc

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await f.read(_CHUNK):
            yield chunk

    try:
        size = (await anyio.to_thread.run_sync(os.fstat, f.wrapped.fileno())).st_size
        headers = {**token.headers, "Content-Length": str(size), "Content-Type": "application/octet-stream"}
        async with conn.http.put(url, data=chunks(), headers=headers) as response:
            _raise_for(response.status, url, await response.text())
    except _client_errors() as exc:
        raise TransferError(f"uploading {source} failed: {exc}") from exc
    finally:
        await asyncio.shield(f.aclose())  # also when the backend refused before reading it all


class FileTransfers:
    """The download/upload family of :class:`XFWorkerJob`."""

    job_serial: int
    temp: TemporaryWorkingDirectory

    async def _connection(self) -> Connection:
        raise NotImplementedError

    async def _fetch(self, token: AuthorizationToken, url: str, name: str, copy: bool) -> Path:
        conn = await self._connection()
        exists, local = await locate(conn, token, url)
        if not exists:
            raise NotFound(f"no file {name!r} at the file service")
        if local is not None and not copy:
            return local
        return await download(conn, token, url, self.temp.create_temp_path(os.path.basename(name)))

    async def _parameter_files(
        self, parameter: Mapping[str, Any], references: list[dict[str, Any]], copy: bool
    ) -> list[Path]:
        if not references:
            return []
        token = await get_parameter_file_token(await self._connection(), parameter)
        paths = []
        for ref in references:
            if "virtualpath" in ref:
                url, name = userdata_url(token, ref["virtualpath"]), ref["virtualpath"]
            else:
                url, name = area_url(token, "job-result", ref["job_serial"], ref["filename"]), ref["filename"]
            paths.append(await self._fetch(token, url, name, copy))
        return paths

    async def download_input_file(
        self, input_parameter: Mapping[str, Any], *, copy_even_on_direct_access: bool = False
    ) -> Path:
        """The (main) file of an input parameter: its path on a shared filesystem (read-only!), else a download
        into the temporary working directory."""
        references = get_parameter_file_references(input_parameter)
        if not references or len(references) == len(
            get_parameter_file_references(input_parameter, only_additional=True)
        ):
            raise InvalidArgument(f"the {input_parameter.get('type')} parameter has no file")
        (path,) = await self._parameter_files(input_parameter, references[:1], copy_even_on_direct_access)
        return path

    async def download_additional_input_files(
        self, input_parameter: Mapping[str, Any], *, copy_even_on_direct_access: bool = False
    ) -> list[Path]:
        """The other files of an input parameter (multi-file data first, then ``additional_files``)."""
        references = get_parameter_file_references(input_parameter, only_additional=True)
        return await self._parameter_files(input_parameter, references, copy_even_on_direct_access)

    async def download_related_input_file(
        self, input_parameter: Mapping[str, Any], filename: str, *, copy_even_on_direct_access: bool = False
    ) -> Path:
        """Another file from the same source (job results) as the input parameter's file."""
        references = get_parameter_file_references(input_parameter)
        if not references or "job_serial" not in references[0]:
            raise InvalidArgument("a related file needs an input parameter whose files are a job's results")
        related = {"type": "File", "filename": filename, "job_serial": references[0]["job_serial"]}
        (path,) = await self._parameter_files(related, get_parameter_file_references(related),
                                              copy_even_on_direct_access)  # fmt: skip
        return path

    async def _config_file(self, area: str, serial: int, filename: str, copy: bool) -> Path:
        conn = await self._connection()
        token = await conn.file_token(area, serial_of(serial), filenames=[check_relative_path(filename)])
        return await self._fetch(token, area_url(token, area, serial, filename), filename, copy)

    async def download_xf_task_type_config_file(
        self, task_type_serial: int, filename: str, *, copy_even_on_direct_access: bool = False
    ) -> Path:
        """A config file of a task type."""
        return await self._config_file("task-type-config", task_type_serial, filename, copy_even_on_direct_access)

    async def download_xf_workflow_config_file(
        self, workflow_serial: int, filename: str, *, copy_even_on_direct_access: bool = False
    ) -> Path:
        """A config file of a workflow."""
        return await self._config_file("workflow-config", workflow_serial, filename, copy_even_on_direct_access)

    async def download_xf_dependency_package_config_file(
        self, dependency_package_serial: int, filename: str, *, copy_even_on_direct_access: bool = False
    ) -> Path:
        """A config file of a dependency package."""
        return await self._config_file("dependency-package-config", dependency_package_serial, filename,
                                       copy_even_on_direct_access)  # fmt: skip

    async def download_xf_userdata_file(self, virtualpath: str, *, copy_even_on_direct_access: bool = False) -> Path:
        """The local path of the ``@xfuserdata/...`` file (the file itself on a shared disk, else a download)."""
        token = await get_xf_userdata_token(await self._connection(), [(virtualpath, "r")])
        return await self._fetch(token, userdata_url(token, virtualpath), virtualpath, copy_even_on_direct_access)

    async def upload_xf_userdata_file(self, local_path: Path | str, virtualpath: str) -> None:
        """Store ``local_path`` at ``virtualpath`` (``@xfuserdata/...``)."""
        await upload_xf_userdata_file(await self._connection(), local_path, virtualpath)

    async def _result_token(self, filename: str) -> AuthorizationToken:
        return await get_xf_job_result_token(await self._connection(), self.job_serial, filename, write=True)

    async def create_output_path(self, path: Path | str, postfix: str) -> Path:
        """Where to write an output file named after ``path`` with ``postfix``: straight into this job's
        results when the backend's filesystem is shared, else a unique path in the temporary directory."""
        candidate = self.temp.create_related_path(path, postfix)
        token = await self._result_token(candidate.name)
        _, local = await locate(await self._connection(), token, area_url(token, "job-result", self.job_serial,
                                                                          candidate.name))  # fmt: skip
        return local if local is not None else candidate

    async def upload_output_file(self, local_path: Path | str) -> None:
        """Store ``local_path`` among this job's results under its file name (nothing to do when it was
        written there directly)."""
        source = Path(local_path)
        token = await self._result_token(source.name)
        url = area_url(token, "job-result", self.job_serial, source.name)
        exists, local = await locate(await self._connection(), token, url)
        if exists and local is not None and Path(await anyio.Path(source).absolute()) == local:
            return  # written in place through direct access
        await upload(await self._connection(), token, url, source)
