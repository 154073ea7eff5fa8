"""The ``asyncwf`` command: ``serve`` runs the backend, ``serve-app`` answers questions, ``worker`` runs task
scripts, ``demo`` runs the main job."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asyncwf import __version__
from asyncwf.exceptions import AsyncwfError, ConfigurationError, Unavailable

__all__ = ["main"]


def _tokens(values: Sequence[str]) -> dict[str, str]:
    """``--token SECRET`` (identity "default") or ``--token NAME=SECRET``."""
    tokens: dict[str, str] = {}
    for value in values:
        name, sep, secret = value.partition("=")
        if not sep:
            name, secret = "default", value
        if not secret or not name:
            raise ConfigurationError(f"--token takes SECRET or NAME=SECRET, not {value!r}")
        tokens[secret] = name
    return tokens


def _grants(values: Sequence[str]) -> dict[str, list[str]]:
    """``--executor NAME=PATTERN`` (repeatable): the job kinds identity NAME may serve."""
    grants: dict[str, list[str]] = {}
    for value in values:
        name, sep, pattern = value.partition("=")
        if not sep or not name or not pattern:
            raise ConfigurationError(f"--executor takes NAME=KIND-PATTERN (like bob=images.*), not {value!r}")
        grants.setdefault(name, []).append(pattern)
    return grants


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asyncwf", description=__doc__)
    parser.add_argument("--version", action="version", version=f"asyncwf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        formatter_class=_Help,
        help="run the backend (gRPC + HTTP) until SIGINT/SIGTERM",
    )
    serve.add_argument(
        "--host", default=os.environ.get("ASYNCWF_HOST", "127.0.0.1"), help="address to listen on ($ASYNCWF_HOST)"
    )
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("ASYNCWF_PORT", "50051")), help="0 picks a free port"
    )
    serve.add_argument("--http-port", type=int, default=8080, help="0 picks a free port, -1 disables HTTP")
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("ASYNCWF_DATA_DIR", "~/.asyncwf")).expanduser(),
        help="the store, results and keys ($ASYNCWF_DATA_DIR)",
    )
    serve.add_argument(
        "--store", default=os.environ.get("ASYNCWF_STORE"),
        help="postgresql://... keeps jobs in PostgreSQL (replicas may share it); default SQLite in --data-dir",
    )  # fmt: skip
    serve.add_argument("--blobs", default=os.environ.get("ASYNCWF_BLOBS"),
                       help="gs://bucket/prefix keeps results in Cloud Storage (replicas share it)")  # fmt: skip
    serve.add_argument("--dask", default=os.environ.get("ASYNCWF_DASK"),
                       help="tcp://host:8786: evaluate large grafts on that dask.distributed cluster")  # fmt: skip
    serve.add_argument("--token", action="append", default=[], help="SECRET or NAME=SECRET; repeat for more")
    serve.add_argument(
        "--executor",
        action="append",
        default=[],
        metavar="NAME=PATTERN",
        help="identity NAME may serve job kinds matching PATTERN (like bob=images.*); repeat for more",
    )
    serve.add_argument(
        "--admin",
        action="append",
        default=[],
        metavar="NAME",
        help="identity NAME may register rasters; repeat for more",
    )
    serve.add_argument(
        "--raster-root",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="rasters may be registered from files under DIR; repeat for more",
    )
    serve.add_argument(
        "--raster-host",
        action="append",
        default=[],
        metavar="HOST",
        help="rasters may be read over HTTP(S) from HOST; repeat for more (none by default)",
    )
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain: TLS for gRPC and HTTP (with --tls-key)")
    serve.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    serve.add_argument("--lease-seconds", type=float, default=30.0, help="how long a job's lease lasts unless renewed")
    serve.add_argument("--no-executor", action="store_true", help="run no in-process executor")
    serve.add_argument(
        "--executor-concurrency", type=int, default=1024, help="jobs the in-process executor runs at once"
    )
    serve.add_argument(
        "--shutdown-grace", type=float, default=10.0, help="seconds in-flight calls and jobs get on shutdown"
    )
    serve.add_argument("--ready-file", type=Path, help="write the real ports here as JSON once serving")
    serve.add_argument(
        "--share-dir", type=Path, action="append", default=[],
        help="a directory whose files may be shared by signed URL over HTTP; repeat for more",
    )  # fmt: skip
    serve.add_argument("--public-http-url", help="the HTTP address other machines reach (for signed URLs)")
    _log_arguments(serve)

    app = sub.add_parser(
        "serve-app",
        formatter_class=_Help,
        help="answer questions to a service id through a backend, until SIGINT/SIGTERM",
    )
    app.add_argument("--service-id", required=True, help="like org/name:1.0")
    app.add_argument("--app", required=True, help="a directory with app.py, a .py file, or a module name")
    app.add_argument("--twine", default="twine.json", help="the twine: a path or JSON text")
    app.add_argument("--configuration-values", help="a path to a JSON file, or JSON text")
    app.add_argument("--output-location", help="a gs:// directory for output datasets")
    app.add_argument("--crash-diagnostics-path", help="where to save diagnostics when an analysis crashes")
    _backend_arguments(app)
    app.add_argument("--concurrency", type=int, default=10, help="questions answered at once")
    app.add_argument("--lease-seconds", type=float, help="lease length (a dead app is noticed after this)")
    _log_arguments(app)

    worker = sub.add_parser(
        "worker",
        formatter_class=_Help,
        help="run XF task-type scripts for the backend's jobs, until SIGINT/SIGTERM",
    )
    worker.add_argument("--scripts", type=Path, action="append", default=[],
                        help="a directory of task-type scripts: NAME.py or NAME/main.py; repeat for more")  # fmt: skip
    worker.add_argument("--task-type", action="append", default=[], help="NAME=PATH of one script; repeat for more")
    _backend_arguments(worker)
    worker.add_argument("--concurrency", type=int, default=os.cpu_count() or 1, help="scripts running at once")
    worker.add_argument("--timeout", type=float, default=3600.0, help="seconds a script may run")
    worker.add_argument("--work-dir", type=Path, help="where runs get their directories (default: ~/.asyncwf/worker)")
    worker.add_argument("--name", help="the worker's name in the backend (default: HOST:PID)")
    worker.add_argument(
        "--lease-seconds", type=float, help="lease length: a dead worker is noticed after this (default: the backend's)"
    )
    worker.add_argument(
        "--no-fork-server", action="store_true",
        help="start a new interpreter per script instead of forking it from one that has asyncwf.worker imported "
        "(forking is the default on Linux)",
    )  # fmt: skip
    _log_arguments(worker)

    images = sub.add_parser("images", formatter_class=_Help, help="the backend's raster catalogue")
    images_sub = images.add_subparsers(dest="images_command", required=True)
    add = images_sub.add_parser(
        "add",
        formatter_class=_Help,
        help="register a GeoTIFF / COG (a path the backend can read)",
    )
    add.add_argument("path", help="the raster file (or a URL of an allowed --raster-host)")
    add.add_argument("--id", required=True, help="the image id")
    add.add_argument("--product", required=True, help="the product id")
    add.add_argument("--acquired", required=True, help="ISO 8601 with a timezone, like 2026-06-01T10:00:00Z")
    add.add_argument("--bands", default="", help="band names, space separated (default: the file's)")
    add.add_argument("--properties", default="{}", help="a JSON object of properties")
    listing = images_sub.add_parser(
        "list",
        formatter_class=_Help,
        help="print the catalogue (of one product) as JSON lines",
    )
    listing.add_argument("--product", default="", help="only this product's images (default: every product)")
    for parser_ in (add, listing):
        _backend_arguments(parser_)

    demo = sub.add_parser(
        "demo",
        formatter_class=_Help,
        help="run the main job on an embedded backend and print what happened",
    )
    demo.add_argument("--jobs", type=int, default=2000, help="how many echo jobs to push through")
    demo.add_argument("--data-dir", type=Path, help="keep the backend's state here")
    return parser


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it has none (None, "", []) or its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, "", []) or action.default is False or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _backend_arguments(parser: argparse.ArgumentParser) -> None:
    """--host, --port and --token of the backend a command talks to (defaults from the environment)."""
    parser.add_argument("--host", default=os.environ.get("ASYNCWF_HOST", "127.0.0.1"),
                        help="the backend's address ($ASYNCWF_HOST)")  # fmt: skip
    parser.add_argument("--port", type=int, default=int(os.environ.get("ASYNCWF_PORT", "50051")),
                        help="the backend's gRPC port ($ASYNCWF_PORT)")  # fmt: skip
    parser.add_argument("--token", default=os.environ.get("ASYNCWF_TOKEN"),
                        help="bearer token for the backend ($ASYNCWF_TOKEN)")  # fmt: skip


def _log_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="what the console shows")  # fmt: skip
    parser.add_argument("--log-transport", action="store_true",
                        help="also show the HTTP/2 and gRPC libraries' DEBUG records (frames, headers)")  # fmt: skip


#: Libraries that log every frame or header at DEBUG.
_TRANSPORT_LOGGERS = ("hpack", "h2", "grpclib", "aiohttp", "asyncio", "urllib3", "google")


def _configure_logging(args: argparse.Namespace, *, floor: str | None = None, tag: logging.Filter | None = None,
                       fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:  # fmt: skip
    """The console at ``--log-level``; the transport libraries stay at INFO unless ``--log-transport``.
    ``floor`` is the level records are made at (below the console's, for handlers other than it);
    ``tag`` a filter that gives records the fields ``fmt`` names."""
    console = logging.StreamHandler()
    console.setLevel(args.log_level)
    console.setFormatter(logging.Formatter(fmt))
    if tag is not None:
        console.addFilter(tag)
    logging.basicConfig(level=floor or args.log_level, handlers=[console])
    if not args.log_transport:
        for name in _TRANSPORT_LOGGERS:
            logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).getEffectiveLevel()))


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _worker_scripts(args: argparse.Namespace) -> dict[str, Path]:
    from asyncwf.worker import find_scripts

    scripts: dict[str, Path] = {}
    for directory in args.scripts:
        scripts.update(find_scripts(directory))
    for value in args.task_type:
        name, sep, path = value.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise ConfigurationError(f"--task-type takes NAME=PATH of an existing script, not {value!r}")
        scripts[name] = Path(path).resolve()
    if not scripts:
        raise ConfigurationError("no task-type scripts: give --scripts DIR or --task-type NAME=PATH")
    return scripts


async def _worker(args: argparse.Namespace, scripts: dict[str, Path]) -> None:
    from asyncwf.client import Auth, Client
    from asyncwf.worker import Worker

    stop = _stop_on_signals()
    auth = Auth(args.token) if args.token else None
    async with Client(args.host, args.port, auth=auth) as client, Worker(
        client, scripts, concurrency=args.concurrency, timeout=args.timeout, work_dir=args.work_dir, name=args.name,
        lease_seconds=args.lease_seconds, fork_server=False if args.no_fork_server else None,
    ) as worker:  # fmt: skip
        print(json.dumps({"worker": worker.name, "task_types": sorted(scripts), "pid": os.getpid()}), flush=True)
        await stop.wait()


async def _images(args: argparse.Namespace) -> None:
    import datetime as dt

    from asyncwf.client import Auth, Client
    from asyncwf.workflows import add_image, list_images

    async with Client(args.host, args.port, auth=Auth(args.token) if args.token else None) as client:
        if args.images_command == "list":
            for record in await list_images(args.product, client=client):
                print(json.dumps(record))
            return
        try:
            acquired = dt.datetime.fromisoformat(args.acquired.replace("Z", "+00:00"))
            properties = json.loads(args.properties)
        except ValueError as exc:
            raise ConfigurationError(f"--acquired is ISO 8601 and --properties JSON: {exc}") from exc
        record = await add_image(args.path, args.id, args.product, acquired,
                                 band_names=args.bands.split(), properties=properties, client=client)  # fmt: skip
        print(json.dumps(record))


async def _serve(args: argparse.Namespace) -> None:
    from asyncwf.server import Backend, BackendConfig, EngineConfig

    config = BackendConfig(
        data_dir=args.data_dir,
        store=args.store,
        blobs=args.blobs,
        dask=args.dask,
        host=args.host,
        port=args.port,
        http_port=None if args.http_port < 0 else args.http_port,
        tokens=_tokens(args.token),
        executors=_grants(args.executor),
        admins=tuple(args.admin),
        raster_roots=tuple(args.raster_root),
        raster_hosts=tuple(args.raster_host),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        engine=EngineConfig(lease_seconds=args.lease_seconds),
        local_executor=not args.no_executor,
        executor_concurrency=args.executor_concurrency,
        shutdown_grace=args.shutdown_grace,
        shared_dirs=tuple(args.share_dir),
        public_http_url=args.public_http_url,
    )
    stop = _stop_on_signals()
    async with Backend(config) as backend:
        _freeze_start_up()
        ready = {"host": config.host, "port": backend.port, "http_port": backend.http_port, "pid": os.getpid()}
        print(json.dumps(ready), flush=True)
        if args.ready_file:
            tmp = args.ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(ready))
            tmp.replace(args.ready_file)
        await stop.wait()
        logging.getLogger("asyncwf.server").info("shutting down gracefully")


def _freeze_start_up() -> None:
    """What start-up made lives as long as the process: out of the collector's way, so a full
    collection walks only what requests made (the pauses of big grafts shrink with it).
    Start-up's own garbage is collected first, not frozen with the rest."""
    gc.collect()
    gc.freeze()


async def _serve_app(args: argparse.Namespace) -> None:
    from asyncwf.client import Auth, Client
    from asyncwf.services import Runner, ServedApp

    runner = Runner(args.app, twine=args.twine, configuration_values=args.configuration_values,
                    output_location=args.output_location, crash_diagnostics_cloud_path=args.crash_diagnostics_path,
                    service_id=args.service_id)  # fmt: skip
    stop = _stop_on_signals()
    auth = Auth(args.token) if args.token else None
    async with Client(args.host, args.port, auth=auth) as client, ServedApp(
        runner, args.service_id, client, concurrency=args.concurrency, lease_seconds=args.lease_seconds
    ):  # fmt: skip
        _freeze_start_up()
        print(json.dumps({"service_id": args.service_id, "pid": os.getpid()}), flush=True)
        await stop.wait()


def _run(coro: Any) -> None:
    """Run on uvloop when it is installed (faster sockets and thread hand-offs), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            _configure_logging(args)
            _run(_serve(args))
        elif args.command == "serve-app":
            # The console shows --log-level and up; analyses' INFO records are still made, for the askers.
            from asyncwf.services._serve import QuestionTag

            _configure_logging(args, floor=min(args.log_level, "INFO", key=logging.getLevelName), tag=QuestionTag(),
                               fmt="%(asctime)s %(levelname)s [%(question_id)s] %(name)s: %(message)s")  # fmt: skip
            _run(_serve_app(args))
        elif args.command == "images":
            if getattr(args, "path", None):
                args.path = os.path.abspath(args.path)  # as the backend will see it
            try:
                _run(_images(args))
            except AsyncwfError as exc:
                if isinstance(exc, ConfigurationError):
                    raise
                print(f"asyncwf: {exc}", file=sys.stderr)
                return 1
        elif args.command == "worker":
            _configure_logging(args)
            _run(_worker(args, _worker_scripts(args)))
        else:
            from asyncwf._demo import run_demo

            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_demo(jobs=args.jobs, data_dir=args.data_dir))
    except ConfigurationError as exc:
        print(f"asyncwf: {exc}", file=sys.stderr)
        return 2
    except Unavailable as exc:
        print(f"asyncwf: {exc} (is the backend running? start it with 'asyncwf serve', or give --host/--port)",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
