"""Runner: runs an app on one question — validates the data, builds the Analysis, captures its logs."""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import inspect
import json
import logging
import os
import sys
import threading
import traceback
import types
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import anyio

from asyncwf.data import Manifest
from asyncwf.exceptions import InvalidInputException
from asyncwf.services._analysis import Analysis
from asyncwf.services._twine import Twine

__all__ = ["Runner"]

log = logging.getLogger("asyncwf.services")

#: The log handler and level of the analysis running in this context (see _AnalysisLogs).
_CURRENT_LOGS: contextvars.ContextVar[tuple[logging.Handler, int] | None] = contextvars.ContextVar(
    "asyncwf_analysis_logs", default=None
)


class _AnalysisLogs(logging.Handler):
    """One handler on the root logger that hands each record to the handler of the analysis that logged it.

    Analyses running at the same time (in tasks or in worker threads, which
    inherit the context) never see each other's records, and nothing about
    the root logger's existing handlers or formatters changes.
    """

    def emit(self, record: logging.LogRecord) -> None:
        current = _CURRENT_LOGS.get()
        if current is not None and record.levelno >= current[1]:
            current[0].handle(record)


_router = _AnalysisLogs(level=logging.NOTSET)


class _AsBefore(logging.Filter):
    """On the root logger's own handlers while analyses capture: drop the records that exist only because
    the root level was lowered for an analysis (below the level the process had set)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


class _Capture:
    """While analyses run with a log handler: the router on the root logger, the root level lowered to the
    lowest level asked for (so the app's INFO and DEBUG records are made), and the process's own handlers
    seeing only what they saw before. When the last analysis ends, all of it is undone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._levels: list[int] = []
        self._saved = logging.WARNING
        self._filter = _AsBefore(logging.WARNING)
        self._filtered: list[logging.Handler] = []

    @contextlib.contextmanager
    def __call__(self, handler: logging.Handler, level: int) -> Iterator[None]:
        self._enter(level)
        token = _CURRENT_LOGS.set((handler, level))
        try:
            yield
        finally:
            _CURRENT_LOGS.reset(token)
            self._exit(level)

    def _enter(self, level: int) -> None:
        root = logging.getLogger()
        with self._lock:
            if not self._levels:
                self._saved = root.level
                self._filter = _AsBefore(self._saved)
                self._filtered = [h for h in root.handlers if h is not _router]
                for own in self._filtered:
                    own.addFilter(self._filter)
                root.addHandler(_router)
            self._levels.append(level)
            _set_level(root, min(self._saved or level, *self._levels))

    def _exit(self, level: int) -> None:
        root = logging.getLogger()
        with self._lock:
            self._levels.remove(level)
            if self._levels:
                _set_level(root, min(self._saved or min(self._levels), *self._levels))
            else:
                root.removeHandler(_router)
                _set_level(root, self._saved)
                for own in self._filtered:
                    own.removeFilter(self._filter)
                self._filtered = []


def _set_level(logger: logging.Logger, level: int) -> None:
    if logger.level != level:  # setLevel clears every logger's cache, even for the same level
        logger.setLevel(level)


_capture = _Capture()


App = Callable[[Analysis], Any]


def _load_app_sync(source: str) -> App:
    """An app from a directory holding app.py, a path to a .py file, or a module name (blocking: imports)."""
    path = os.path.join(source, "app.py") if os.path.isdir(source) else source
    if path.endswith(".py") and os.path.isfile(path):
        name = f"asyncwf_app_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise InvalidInputException(f"cannot import an app from {path!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise InvalidInputException(
                f"no app at {source!r} (a directory with app.py, a .py file or a module)"
            ) from exc
    return _app_of(module)


def _app_of(source: Any) -> App:
    if isinstance(source, types.ModuleType):
        run = getattr(source, "run", None)
        if run is None:
            raise InvalidInputException(f"the app module {source.__name__} has no run(analysis)")
        return _app_of(run)
    if inspect.isclass(source):
        if not callable(getattr(source, "run", None)):
            raise InvalidInputException(f"the app class {source.__name__} has no run method")
        cls: Any = source

        def run_instance(analysis: Analysis) -> Any:
            return cls(analysis).run()

        run_instance.__asyncwf_async__ = inspect.iscoroutinefunction(cls.run)  # type: ignore[attr-defined]
        return run_instance
    if callable(source):
        return source  # type: ignore[no-any-return]
    raise InvalidInputException(f"an app is a function, a class with run, a module or a path, not {source!r}")


def _is_async(app: App) -> bool:
    return bool(getattr(app, "__asyncwf_async__", False)) or inspect.iscoroutinefunction(app)


async def _json_source(value: Any, what: str) -> Any:
    """Strand data given as a value, JSON text, a path to a .json file, or an open file."""
    if hasattr(value, "read"):
        value = await anyio.to_thread.run_sync(value.read)
    if isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip().endswith(".json")
                                          and not value.lstrip().startswith(("{", "["))):  # fmt: skip
        try:
            value = await anyio.Path(value).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputException(f"cannot read {what} from {os.fspath(value)!r}: {exc}") from exc
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise InvalidInputException(f"{what} is not JSON: {exc}") from exc
    return value


class Runner:
    """Runs an app on questions, with a twine checking everything that goes in and out.

    ``app_src`` is a function (async, or sync: run in a worker thread) taking
    the :class:`Analysis`, a class with ``run`` (made with the analysis), a
    module with ``run``, or a path (a directory with ``app.py``, a ``.py`` file,
    a module name).
    """

    def __init__(
        self, app_src: Any, twine: Twine | Mapping[str, Any] | str = "twine.json", configuration_values: Any = None,
        configuration_manifest: Any = None, children: Any = None, output_location: str | None = None,
        crash_diagnostics_cloud_path: str | None = None, project_name: str | None = None,
        service_id: str | None = None,
    ) -> None:  # fmt: skip
        self.app_src = app_src
        self._app: App | None = None if isinstance(app_src, str | os.PathLike) else _app_of(app_src)
        self._twine_source = twine
        self.twine: Twine | None = twine if isinstance(twine, Twine) else None
        if isinstance(twine, Mapping):
            self.twine = Twine(twine)
        self.configuration_values = configuration_values
        self.configuration_manifest = configuration_manifest
        self.children = children
        self.output_location = output_location
        self.crash_diagnostics_cloud_path = crash_diagnostics_cloud_path
        self.project_name = project_name
        self.service_id = service_id
        self._prepared = False
        self._configuration: tuple[Any, Manifest | None, dict[str, Any], str | None] | None = None

    async def _prepare(self) -> tuple[App, Twine]:
        """Read what the constructor was given as paths (once): the twine, the app, the configuration."""
        if self.twine is None:
            source = self._twine_source
            text = os.fspath(source) if isinstance(source, str | os.PathLike) else ""
            self.twine = Twine(text) if text.lstrip().startswith("{") else await Twine.from_file(text)
        if self._app is None:
            self._app = await anyio.to_thread.run_sync(_load_app_sync, os.fspath(self.app_src))
        if self._configuration is None:
            values = self.twine.validate("configuration_values", await _json_source(
                self.configuration_values, "configuration values"))  # fmt: skip
            manifest = await self._manifest(self.configuration_manifest, "configuration_manifest")
            children = await self._children(await _json_source(self.children, "children"))
            manifest_hash = None if manifest is None else await manifest.calculate_hash()
            self._configuration = (values, manifest, children, manifest_hash)
        return self._app, self.twine

    async def _manifest(self, source: Any, strand: str) -> Manifest | None:
        assert self.twine is not None
        if source is None:
            self.twine.validate(strand, None)
            return None
        manifest = source if isinstance(source, Manifest) else Manifest.deserialise(
            await _json_source(source, strand))  # fmt: skip
        self.twine.validate(strand, manifest.to_primitive())
        return await manifest.load()

    async def _children(self, data: Any) -> dict[str, Any]:
        assert self.twine is not None
        if data is None:
            return {}
        self.twine.validate("children", data)
        from asyncwf.services._child import Child

        return {entry["key"]: Child(entry["id"], entry["backend"]) for entry in data}

    async def run(
        self, analysis_id: str | None = None, input_values: Any = None, input_manifest: Any = None,
        analysis_log_level: int | str = logging.INFO, analysis_log_handler: logging.Handler | None = None,
        handle_monitor_message: Callable[[Any], Any] | None = None, allow_save_diagnostics_data_on_crash: bool = True,
        sent_messages: list[Any] | None = None,
    ) -> Analysis:  # fmt: skip
        """Answer one question: validate, run the app, validate and finalise the outputs; the Analysis.

        Logs the app makes while it runs go to ``analysis_log_handler`` (if
        given) at ``analysis_log_level`` and above, and nowhere else is
        changed. On a crash, diagnostics are saved under
        ``crash_diagnostics_cloud_path/<analysis id>/`` when both allow it.
        """
        app, twine = await self._prepare()
        assert self._configuration is not None
        configuration_values, configuration_manifest, children, configuration_hash = self._configuration
        values = twine.validate("input_values", await _json_source(input_values, "input values"))
        manifest = await self._manifest(input_manifest, "input_manifest")
        analysis = Analysis(
            twine, handle_monitor_message, configuration_values=configuration_values,
            configuration_manifest=configuration_manifest, input_values=values, input_manifest=manifest,
            children=children, id=analysis_id, output_location=self.output_location,
            manifest_hashes={"configuration_manifest": configuration_hash,
                             "input_manifest": None if manifest is None else await manifest.calculate_hash()},
        )  # fmt: skip
        capturing = contextlib.nullcontext()
        if analysis_log_handler is not None:
            level = logging.getLevelName(analysis_log_level) if isinstance(analysis_log_level, str) \
                else analysis_log_level  # fmt: skip
            capturing = _capture(analysis_log_handler, int(level))  # type: ignore[assignment]
        with capturing:
            return await self._run_app(app, analysis, allow_save_diagnostics_data_on_crash, sent_messages)

    async def _run_app(self, app: App, analysis: Analysis, allow_diagnostics: bool,
                       sent_messages: list[Any] | None) -> Analysis:  # fmt: skip
        try:
            if _is_async(app):
                await app(analysis)
            else:
                # A sync app gets the blocking Analysis (its datasets and datafiles blocking too); what it
                # calls runs on this loop, where the analysis lives.
                from asyncwf.blocking._wrap import wrap

                await anyio.to_thread.run_sync(app, wrap(analysis))
            if not analysis.finalised:
                await analysis.finalise()
        except BaseException as exc:
            if allow_diagnostics and self.crash_diagnostics_cloud_path:
                await self._save_diagnostics(analysis, exc, sent_messages)
            raise
        return analysis

    async def _save_diagnostics(self, analysis: Analysis, exc: BaseException, sent: list[Any] | None) -> None:
        """Values, manifests, the messages sent and the traceback, under ``<path>/<analysis id>/``."""
        assert self.crash_diagnostics_cloud_path is not None
        documents = {
            "analysis.json": analysis.serialise(default=str),
            "messages.json": json.dumps(sent or [], default=str),
            "traceback.txt": "".join(traceback.format_exception(exc)),
        }
        base = f"{self.crash_diagnostics_cloud_path.rstrip('/')}/{analysis.id}"
        try:
            if base.startswith("gs://"):
                from asyncwf.data._gcs import cloud_storage

                storage = await cloud_storage()
                for name, text in documents.items():
                    await storage.upload_bytes(text.encode(), f"{base}/{name}")
            else:
                await anyio.Path(base).mkdir(parents=True, exist_ok=True)
                for name, text in documents.items():
                    await anyio.Path(base, name).write_text(text)
        except Exception:  # diagnostics must never hide the crash itself
            log.exception("could not save crash diagnostics to %s", base)
