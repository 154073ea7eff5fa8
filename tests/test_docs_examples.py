"""Every code block of README.md and docs/ runs here, or says in the Markdown why it does not.

A block preceded by ``<!-- not run here: REASON -->`` is not run (a server to leave running, a package to
install, a host of the reader's); every other block is:

- a Python program (it calls ``asyncio.run`` or uses ``asyncwf.blocking``) runs in a subprocess against a
  fresh backend: ``$ASYNCWF_HOST``/``$ASYNCWF_PORT`` point at it and the docs' port 50051 is its port. A
  program that serves until interrupted (``await asyncio.Event().wait()``) is checked by :data:`SERVING`
  while it runs;
- a Python fragment (top-level ``await``) runs in-process, after the page's :data:`SETUP`, in one namespace
  per page, statement by statement: a statement whose comment names an exception (``# InvalidArgument:
  ...``) must raise it;
- a shell block is not run (each one says why), but every ``asyncwf`` command in it is parsed by the real
  command-line parser, so an option that does not exist fails here;
- a block without a language is not allowed (diagrams are ``text``).
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import contextlib
import dataclasses
import inspect
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import asyncwf.data
import asyncwf.exceptions
import asyncwf.services
import asyncwf.worker
import asyncwf.workflows  # imported here: the pages import them in the event loop, which would flag file reads
from asyncwf import Client
from asyncwf._cli import _parser
from asyncwf.testing import LocalBackend

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(
    r"(?:<!-- not run here: (?P<reason>[^>]*?) -->\n)?^```(?P<lang>[\w-]*)\n(?P<code>.*?)^```$", re.S | re.M
)
LANGUAGES = {"python", "bash", "sh", "text", "json", "toml", "yaml", "ini"}


@dataclasses.dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    code: str
    reason: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def is_program(self) -> bool:
        return "asyncio.run(" in self.code or "import asyncwf.blocking" in self.code

    @property
    def serves(self) -> bool:
        return "await asyncio.Event().wait()" in self.code


def _blocks() -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text()
        name = str(page.relative_to(ROOT))
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start("lang"))
            found.append(Block(name, line, m.group("lang"), m.group("code"), m.group("reason")))
    return found


BLOCKS = _blocks()
RUN = [b for b in BLOCKS if b.lang == "python" and b.reason is None]


def test_every_block_runs_or_says_why_not() -> None:
    assert len(BLOCKS) > 40
    for block in BLOCKS:
        assert block.lang in LANGUAGES, f"{block.id}: a block needs a language (diagrams are `text`)"
        if block.lang in ("bash", "sh"):
            assert block.reason, f"{block.id}: a shell block is not run here: say why (<!-- not run here: ... -->)"
        if block.reason is not None:
            assert len(block.reason) > 10, f"{block.id}: the reason is too short"
    assert len(RUN) >= 25  # most Python blocks run


def _asyncwf_commands(code: str) -> list[list[str]]:
    """The ``asyncwf`` command lines of a shell block, as argument lists (``...`` and ``&`` dropped)."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        words = [w for w in shlex.split(line, comments=True) if w not in ("...", "&")]
        if words and (words[0] == "asyncwf" or words[0].endswith("/asyncwf")):
            commands.append(words[1:])
    return commands


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang in ("bash", "sh")], ids=lambda b: b.id)
def test_shell_blocks_use_options_the_cli_has(block: Block, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in _asyncwf_commands(block.code):
        try:
            _parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{block.id}: `asyncwf {shlex.join(argv)}` is refused: {capsys.readouterr().err}")


# --- Python ------------------------------------------------------------------------------------------------

#: Run before a page's fragments, in their namespace (the names the page's prose introduces). ``_enter(cm)``
#: enters an async context manager until the page's test ends.
SETUP: dict[str, str] = {
    "docs/guides/compute.md": "import asyncwf.workflows as wf",
    "docs/guides/jobs.md": """
import asyncio, hashlib
from asyncwf import Client, JobContext, JobInfo, JobOutput, JobState, LogRecord, ProgressUpdate, RemoteExecutor
payload = b"a picture"
async def make_thumbnail(data): return data[:4]
stop_event = asyncio.Event()
asyncio.get_running_loop().call_later(0.5, stop_event.set)
""",
    "docs/guides/data.md": """
import datetime as dt, pathlib
from asyncwf.data import Datafile, Dataset, Manifest
pathlib.Path("survey").mkdir()
for name, labels, tags, year in [("a.csv", ["raw"], {"site": "north"}, 2024),
                                 ("b.csv", ["calibration"], {"site": "south"}, 2023)]:
    pathlib.Path("survey", name).write_text("1,2\\n")
    made = await Datafile(f"survey/{name}", labels=labels, tags=tags, timestamp=dt.datetime(year, 5, 1, tzinfo=dt.UTC))
    await made.update_metadata()
dataset = await Dataset("survey")
datafile = dataset.files.one(name="a.csv")
manifest = await Manifest({"survey": dataset})
""",
    "docs/guides/rasters.md": """
import datetime as dt
import numpy as np, rasterio
import asyncwf.workflows as wf
rows, cols = np.mgrid[0:100, 0:100].astype("f8")
data = np.stack([rows + cols - 20, np.full_like(rows, 7.0), 2 * (rows + cols) + 1])
with rasterio.open("s2.tif", "w", driver="GTiff", width=100, height=100, count=3, dtype="float64",
                   crs="EPSG:4326", transform=rasterio.Affine(0.01, 0, 10, 0, -0.01, 46)) as out:
    out.write(data)
await wf.add_image("s2.tif", "s2:2026-06-01", "s2", dt.datetime(2026, 6, 1, 10, 30, tzinfo=dt.UTC),
                   band_names=["red", "green", "nir"])
""",
    "docs/guides/services.md": """
import json, pathlib
from asyncwf.services import ChildEmulator, ServedApp
pathlib.Path("twine.json").write_text(json.dumps({"input_values_schema": {"type": "object"}}))
pathlib.Path("emulated_child.json").write_text(json.dumps({"messages": [
    {"type": "result", "output_values": [1, 2, 3], "output_manifest": None}]}))
""",
    "docs/guides/testing.md": "async def my_function(ctx): return ctx.payload",
    "docs/guides/worker.md": """
import pathlib
from asyncwf import Client
from asyncwf.worker import Worker
pathlib.Path("numbers.csv").write_text("1\\n2\\n3.5\\n")
""",
}

#: Run before the first block of the page that contains the text: what that block needs from outside it.
BEFORE: dict[tuple[str, str], str] = {
    ("docs/guides/services.md", "child.ask("): """
await _enter(ServedApp(runner, "org/squarer:1.0", client))       # the app of the Runner above, served
questions = [{"input_values": {"n": 3}}, {"input_values": {"n": 5}}]
""",
    ("docs/guides/worker.md", "create_xf_job("): """
pathlib.Path("task_types").mkdir()
pathlib.Path("task_types/summarize.py").write_text(_block_with("async with XFWorkerJob() as job").code)
await _enter(Worker(client, {"summarize": "task_types/summarize.py"}, work_dir="work"))
""",
}

#: Run after the first block of the page that contains the text: what the page says it did, checked.
AFTER: dict[tuple[str, str], str] = {
    ("docs/guides/worker.md", "client.watch_job("): """
assert event.state.name == "SUCCEEDED", event.error
assert (await client.job_result(event.id)).startswith(b'{"state": "Done"')
""",
    ("docs/guides/services.md", "child.ask("): """
assert answer["output_values"]["square"] in (9, 25), answer  # the last of child.answers(...) to arrive
assert [a["output_values"] for a in answers] == [{"square": 1}, {"square": 4}]
""",
    ("docs/guides/jobs.md", "thumbnails.make"): "assert queued.state.name == 'QUEUED'",
    ("docs/guides/rasters.md", "layer.url("): "assert f'/v1/xyz/{layer.id}/' in layer.url()",
}

#: Checks of programs that serve until interrupted, run while they do (with a client of the backend).
SERVING: dict[tuple[str, str], Callable[[Client], Awaitable[None]]] = {}


def _serving(page: str, text: str) -> Callable[[Callable[[Client], Awaitable[None]]], Any]:
    def register(fn: Callable[[Client], Awaitable[None]]) -> Any:
        SERVING[page, text] = fn
        return fn

    return register


@_serving("README.md", '"images.resize"')
async def _readme_executor(client: Client) -> None:
    job = await client.run_job("images.resize", b"abcdef", wait_for_executor=True)
    assert job.result_inline == b"ace"


def _block_with(text: str) -> Block:
    [block] = [b for b in BLOCKS if text in b.code]
    return block


def _keyed(table: dict[tuple[str, str], Any], block: Block) -> Any:
    return next((value for (page, text), value in table.items() if page == block.page and text in block.code), None)


def _expected_error(source: str, stmt: ast.stmt) -> type[BaseException] | None:
    """The exception a statement's trailing comment says it raises (``# InvalidArgument: ...``), if any."""
    line = source.splitlines()[(stmt.end_lineno or stmt.lineno) - 1]
    comment = re.search(r"#\s*([A-Z]\w*)(?::|\s|$)", line)
    if comment is None:
        return None
    name = comment.group(1)
    found = next(
        (getattr(m, name) for m in (asyncwf.exceptions, asyncwf.workflows, builtins) if hasattr(m, name)), None
    )
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


async def _run_fragment(source: str, namespace: dict[str, Any], where: str) -> None:
    for stmt in ast.parse(source).body:
        code = compile(ast.Module([stmt], []), where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        expected = _expected_error(source, stmt)
        try:
            result = eval(code, namespace)
            if inspect.iscoroutine(result):
                await result
        except BaseException as exc:
            if expected is None or not isinstance(exc, expected):
                raise AssertionError(f"{where}, line {stmt.lineno}: {type(exc).__name__}: {exc}") from exc
        else:
            assert expected is None, f"{where}, line {stmt.lineno}: {expected.__name__} was not raised"


async def _run_program(block: Block, code: str, backend: LocalBackend, cwd: Path) -> None:
    env = {**os.environ, "ASYNCWF_HOST": backend.host, "ASYNCWF_PORT": str(backend.port),
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    if block.serves:
        check = _keyed(SERVING, block)
        assert check is not None, f"{block.id} serves until interrupted: add a check to SERVING"
        try:
            async with backend.client() as client, asyncio.timeout(60):
                await check(client)
            assert proc.returncode is None, "the program stopped serving"
        finally:
            proc.kill()
            await proc.wait()
        return
    async with asyncio.timeout(120):
        out, _ = await proc.communicate()
    assert proc.returncode == 0, f"{block.id} failed:\n{out.decode()}"


DATA_GUIDE = "docs/guides/data.md"


@pytest.mark.parametrize("page", sorted({b.page for b in RUN} - {DATA_GUIDE}))
async def test_the_python_blocks_of_each_page_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await _run_page(page, tmp_path, monkeypatch, {})


async def test_the_python_blocks_of_the_data_guide_run(
    gcs_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google Cloud Storage here is the emulator, with a service-account key that signs URLs."""
    from tests.data.test_gcs import _service_account

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_service_account(tmp_path)[0]))
    await _run_page(DATA_GUIDE, tmp_path, monkeypatch, {"gs://bucket/": f"gs://{gcs_bucket}/"})


async def _run_page(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, substitutions: dict[str, str]) -> None:
    monkeypatch.chdir(tmp_path)
    async with contextlib.AsyncExitStack() as stack:
        backend = await stack.enter_async_context(LocalBackend())
        client = await stack.enter_async_context(backend.client())
        monkeypatch.setenv("ASYNCWF_HOST", backend.host)
        monkeypatch.setenv("ASYNCWF_PORT", str(backend.port))
        Client.set_default_client(client)
        substitutions["50051"] = str(backend.port)
        namespace: dict[str, Any] = {"__name__": "__docs__", "client": client, "_enter": stack.enter_async_context,
                                     "_block_with": _block_with}  # fmt: skip
        await _run_fragment(SETUP.get(page, ""), namespace, f"{page} setup")
        for block in (b for b in RUN if b.page == page):
            code = block.code
            for old, new in substitutions.items():
                code = code.replace(old, new)
            before = _keyed(BEFORE, block)
            if before is not None:
                await _run_fragment(before, namespace, f"{block.id} (before)")
            if block.is_program:
                await _run_program(block, code, backend, tmp_path)
            else:
                await _run_fragment(code, namespace, block.id)
            after = _keyed(AFTER, block)
            if after is not None:
                await _run_fragment(after, namespace, f"{block.id} (after)")
