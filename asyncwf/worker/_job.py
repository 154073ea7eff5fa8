"""XFWorkerJob: what a task script uses to read its job, report, move files and finish."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Generator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from asyncwf.client import Auth, Client
from asyncwf.exceptions import InvalidArgument, UnsupportedFormatError
from asyncwf.worker._arguments import ActivityLogLevel, XFWorkerArguments
from asyncwf.worker._connection import Connection
from asyncwf.worker._parameters import OutputParameterBuilders
from asyncwf.worker._queries import create_activity_log_event, update_xf_task
from asyncwf.worker._spawn import Spawning
from asyncwf.worker._tempdir import TemporaryWorkingDirectory
from asyncwf.worker._transfer import FileTransfers

__all__ = ["XFWorkerJob"]

Record = dict[str, Any]
_UNSUPPORTED = ("IPL and OMNI images are not supported by asyncwf: handle the image as an ordinary file "
                "(download_input_file and download_additional_input_files)")  # fmt: skip


def _open_connection(arguments: XFWorkerArguments) -> Connection:
    client = Client(arguments.server_host, int(arguments.server_port), auth=Auth(arguments.server_auth or None))
    return Connection(client, owns_client=True)


class XFWorkerJob(OutputParameterBuilders, FileTransfers, Spawning):
    """The current job of a task script, from the ``XF_*`` environment the worker sets::

        async def main():
            async with XFWorkerJob() as job:
                path = await job.download_input_file(job.job["inputs"]["scan"])
                ...
                await job.finish({"table": job.create_output_csv(out)})

    ``await XFWorkerJob()`` also works (then call :meth:`aclose` at the end).
    Opening makes the temporary working directory and loads the job. An
    exception escaping the ``async with`` block is saved as the job's error
    message; the worker then marks the job Failed.
    """

    def __init__(self, arguments: XFWorkerArguments | None = None, *, temp_prefix: str = "xfworker-") -> None:
        self.arguments = arguments if arguments is not None else XFWorkerArguments.from_environment()
        self.job_serial = self.arguments.job_serial
        self.temp = TemporaryWorkingDirectory(temp_prefix)
        #: The job record as last loaded or saved.
        self.job: Record = {}
        self._conn: Connection | None = None
        self._pending: dict[str, Any] = {}
        self._opened_at = time.time()

    # --- lifecycle ---------------------------------------------------------

    def __await__(self) -> Generator[Any, None, XFWorkerJob]:
        return self._open().__await__()

    async def _open(self) -> XFWorkerJob:
        await self.temp
        await self.load_job()
        return self

    async def __aenter__(self) -> XFWorkerJob:
        return await self._open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if isinstance(exc, Exception) and self.job:
                await self.set_error_message("".join(traceback.format_exception_only(exc)).strip())
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the connection (the temporary directory stays unless :meth:`finish` removed it)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.aclose()

    async def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = _open_connection(self.arguments)
        return self._conn

    @contextlib.asynccontextmanager
    async def server_connection(self) -> AsyncIterator[Connection]:
        """The connection to the backend (one per job, reused; closed by :meth:`aclose`)."""
        yield await self._connection()

    # --- the job record ----------------------------------------------------

    async def load_job(self) -> Record:
        """Load the current job from the backend (dropping unsaved changes)."""
        self.job = await (await self._connection()).get("job", self.job_serial)
        self._pending.clear()
        return self.job

    async def save_job(self, **kwargs: Any) -> Record:
        """Save the job, replacing the given fields (and any changed with ``save=False`` before)."""
        if not self.job:
            await self.load_job()
        changes = {**self._pending, **kwargs}
        self.job = await (await self._connection()).update("job", self.job, changes)
        self._pending.clear()
        return self.job

    async def _set_metadata(self, save: bool, **fields: Any) -> None:
        metadata = {**self.job.get("metadata", {}), **self._pending.get("metadata", {}), **fields}
        metadata = {key: value for key, value in metadata.items() if value is not None}
        self._pending["metadata"] = metadata
        self.job["metadata"] = metadata
        if save:
            await self.save_job()

    async def progress(self, percentage: float, *, save: bool = True) -> float:
        """Record progress (0-100 %) and the estimated duration it implies; returns that estimate (seconds)."""
        if isinstance(percentage, bool) or not isinstance(percentage, int | float) or not 0 < percentage <= 100:
            raise InvalidArgument(f"percentage is a number in (0, 100], not {percentage!r}")
        started = self.job.get("started") or self._opened_at
        estimate = max(time.time() - started, 0.0) * 100.0 / percentage
        await self._set_metadata(save, progress=float(percentage), estimated_duration=estimate)
        return estimate

    async def set_estimated_duration(self, estimated_duration_in_seconds: float, *, save: bool = True) -> None:
        """Record how long the job is expected to take, in seconds (saved at once unless ``save=False``)."""
        value = estimated_duration_in_seconds
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
            raise InvalidArgument(f"an estimated duration is a non-negative number of seconds, not {value!r}")
        await self._set_metadata(save, estimated_duration=float(value))

    async def set_error_message(self, message: str, *, save: bool = True) -> None:
        """Record the job's error message (shown with a failed job)."""
        if not isinstance(message, str):
            raise InvalidArgument("an error message is a string")
        await self._set_metadata(save, error_message=message)

    async def clear_error_message(self, *, save: bool = True) -> None:
        """Remove the job's error message."""
        await self._set_metadata(save, error_message=None)

    async def set_output_units(self, units: Mapping[str, str], *, save: bool = True) -> None:
        """Record the unit of each output (output name -> unit string, such as ``"mg"``)."""
        if not isinstance(units, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in units.items()
        ):
            raise InvalidArgument("output units map output names to unit strings")
        await self._set_metadata(save, output_units=dict(units))

    async def activity_log_message(self, title: str, *, level: ActivityLogLevel = ActivityLogLevel.INFO) -> Record:
        """Add an event to the activity log; watchers of the job see it as a log entry."""
        return await create_activity_log_event(await self._connection(), title, level=level,
                                               job_serial=self.job_serial)  # fmt: skip

    # --- the end -----------------------------------------------------------

    async def _check_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(outputs, Mapping) or not all(isinstance(k, str) and k for k in outputs):
            raise InvalidArgument("outputs map output names to parameters")
        try:
            json.dumps(dict(outputs), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"outputs must be JSON: {exc}") from exc
        if not outputs:
            return {}
        task_type = await (await self._connection()).get("task_type", self.job["task_type_serial"])
        declared = {entry.get("name") for entry in task_type["interface"].get("outputs", [])}
        unknown = sorted(set(outputs) - declared) if declared else []
        if unknown:
            raise InvalidArgument(f"task type {task_type['name']} has no outputs {', '.join(unknown)}")
        return dict(outputs)

    async def finish(self, outputs: Mapping[str, Any], units: Mapping[str, str] | None = None) -> None:
        """Finish a successful run: outputs stored, state Done, temporary directory removed."""
        checked = await self._check_outputs(outputs)
        if units is not None:
            await self.set_output_units(units, save=False)
        await self._set_metadata(False, progress=100.0)
        await self.save_job(state="Done", outputs=checked, finished=time.time())
        await self.temp.remove()
        await self.aclose()

    async def error(self, message: str) -> NoReturn:
        """Finish a failed run: save the error message and exit (status 1). The worker marks the job Failed;
        the temporary directory stays for debugging."""
        await self.set_error_message(message)
        await self.aclose()
        raise SystemExit(1)

    async def switch_to_interactive_mode(self, error_message: str | None = None) -> NoReturn:
        """Save the task's initial state and the job as ReadyForInteractive, and exit (status 0)."""
        conn = await self._connection()
        task = await self.get_current_task()
        workflow = await conn.get("workflow", task["workflow_serial"])
        initial = {"job_serial": self.job_serial, "inputs": self.job["inputs"], "metadata": self.job["metadata"]}
        await update_xf_task(conn, task, workflow["occ_lock_version"], initial_state=initial)
        if error_message is not None:
            await self.set_error_message(error_message, save=False)
        await self.save_job(state="ReadyForInteractive")
        await self.aclose()
        raise SystemExit(0)

    def hook_exceptions(self) -> None:
        """Save the message of an exception that ends the script uncaught as the job's error message."""
        previous = sys.excepthook
        arguments = self.arguments

        async def save(message: str) -> None:
            async with _open_connection(arguments) as conn:
                job = await conn.get("job", arguments.job_serial)
                await conn.update("job", job, {"metadata": {**job["metadata"], "error_message": message}})

        def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
            message = "".join(traceback.format_exception_only(exc_type, exc)).strip()
            # The script's own event loop has ended by now: save on a fresh one, in a thread of its own.
            thread = threading.Thread(target=lambda: asyncio.run(save(message)), daemon=True)
            thread.start()
            thread.join(30)
            previous(exc_type, exc, tb)

        sys.excepthook = hook

    # --- context -----------------------------------------------------------

    async def get_current_task(self) -> Record:
        """The task entity this job belongs to."""
        return await (await self._connection()).get("task", self.job["task_serial"])

    async def get_run_entity(self) -> Record | None:
        """The latest run of this job's workflow, or ``None``."""
        runs = await (await self._connection()).list("workflow_run", parent=self.job["workflow_serial"])
        return runs[-1] if runs else None

    def get_debug_info(self) -> str:
        """A few lines describing the job (serial, task, workflow, state, version, inputs) for logs and bug reports."""
        job = self.job
        return "\n".join([
            f"job {self.job_serial} (task {job.get('task_serial')}, workflow {job.get('workflow_serial')}, "
            f"state {job.get('state')}, occ_lock_version {job.get('occ_lock_version')})",
            f"server {self.arguments.server_host}:{self.arguments.server_port}",
            f"temporary directory {self.temp.root if self.temp._root is not None else '(not made)'}",
            f"python {platform.python_version()} on {platform.node()}, pid {os.getpid()}",
        ])  # fmt: skip

    def create_temp_path(self, filename: str) -> Path:
        """A path for ``filename`` in the job's temporary directory."""
        return self.temp.create_temp_path(filename)

    def create_related_path(self, path: Path | str, postfix: str) -> Path:
        """A new path in the temporary directory named after ``path`` with ``postfix`` before its suffix."""
        return self.temp.create_related_path(path, postfix)

    # --- proprietary image formats (out of scope) ----------------------------

    async def get_ipl_image_path(
        self, input_parameter: Mapping[str, Any], *, auto_convert_from_omni: bool = True
    ) -> Path:
        """Not supported: proprietary IPL images are out of scope; raises ``UnsupportedFormatError``."""
        raise UnsupportedFormatError(_UNSUPPORTED)

    async def get_omni_image(self, input_parameter: Mapping[str, Any], *, copy_even_on_direct_access: bool = False,
                             download_only_metadata: bool = False) -> NoReturn:  # fmt: skip
        """Not supported: proprietary OMNI images are out of scope; raises ``UnsupportedFormatError``."""
        raise UnsupportedFormatError(_UNSUPPORTED)

    async def upload_omni_output(self, image: Any) -> NoReturn:
        """Not supported: proprietary OMNI images are out of scope; raises ``UnsupportedFormatError``."""
        raise UnsupportedFormatError(_UNSUPPORTED)

    async def upload_omni_output_only_metadata(self, image: Any, additional_files: list[dict[str, Any]]) -> NoReturn:
        """Not supported: proprietary OMNI images are out of scope; raises ``UnsupportedFormatError``."""
        raise UnsupportedFormatError(_UNSUPPORTED)
