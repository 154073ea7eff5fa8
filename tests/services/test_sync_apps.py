"""Sync apps get sync objects: a plain-function Octue app opens, reads and writes datafiles and finalises with an
upload, run by the blocking Runner and served (asked through Child.ask)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

import asyncwf.blocking.services as bsvc
from asyncwf.blocking.data import Datafile, Dataset, Manifest, close_cloud_storage
from asyncwf.data import Manifest as AsyncManifest
from asyncwf.services import Child, Runner, ServedApp
from asyncwf.testing import LocalBackend

from ..data.test_gcs import _service_account

TWINE = {
    "input_values_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    "output_manifest": {"datasets": {"results": {"purpose": "what the app wrote"}}},
    "output_values_schema": {"type": "object"},
}


def make_app(workdir: Path, bucket: str) -> Any:
    def app(analysis: Any) -> None:
        """A plain function, as Octue apps are: every call on the analysis and its data blocks."""
        assert isinstance(analysis, bsvc.Analysis)
        out = workdir / analysis.id
        out.mkdir()
        datafile = Datafile(str(out / "words.txt"), labels="words")
        with datafile.open("w") as f:
            f.write(analysis.input_values["text"])
        with datafile.open() as f:
            words = f.read().split()
        dataset = Dataset(str(out))
        assert [d.name for d in dataset.files] == ["words.txt"]
        logging.getLogger("words-app").info("counted %d words", len(words))
        analysis.send_monitor_message({"counted": len(words)})
        analysis.output_values = {"count": len(words)}
        analysis.output_manifest = Manifest({"results": dataset})
        analysis.finalise(upload_output_datasets_to=f"gs://{bucket}/outputs/{analysis.id}")

    return app


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, _ = _service_account(tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))


@pytest.mark.allow_blocking
def test_a_sync_app_under_the_blocking_runner(credentials: None, gcs_bucket: str, tmp_path: Path) -> None:
    close_cloud_storage()  # the portal's loop may hold a storage client made before these credentials
    runner = bsvc.Runner(make_app(tmp_path, gcs_bucket), twine=TWINE)
    analysis = runner.run(input_values={"text": "a b c"}, analysis_id="sync-1")
    assert isinstance(analysis, bsvc.Analysis)
    assert analysis.finalised and analysis.output_values == {"count": 3}
    uploaded = Dataset(f"gs://{gcs_bucket}/outputs/sync-1/results")
    assert [f.name for f in uploaded.files] == ["words.txt"]
    with uploaded.files.one().open() as f:
        assert f.read() == "a b c"


@pytest.mark.allow_blocking
async def test_a_sync_app_served_and_asked(credentials: None, gcs_bucket: str, tmp_path: Path) -> None:
    async with (
        LocalBackend() as backend,
        backend.client() as client,
        ServedApp(Runner(make_app(tmp_path, gcs_bucket), twine=TWINE), "org/words:1.0", client, concurrency=2),
    ):
        answer = await Child("org/words:1.0", client=client).ask(input_values={"text": "one two"})
    assert answer["output_values"] == {"count": 2}
    manifest = answer["output_manifest"]  # a Manifest, as the Octue SDK's answers hold
    assert isinstance(manifest, AsyncManifest) and list(manifest.datasets) == ["results"]
    assert manifest.get_dataset("results").path.startswith(("gs://", "http"))
    assert os.listdir(tmp_path)  # the app ran, and wrote its dataset before uploading it


@pytest.mark.allow_blocking
async def test_a_sync_app_asked_and_replayed_forwards_logs_and_leaves_logging_alone(
    credentials: None, gcs_bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from asyncwf.services import ChildEmulator

    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    record = str(tmp_path / "events.json")
    messages: list[Any] = []
    work = tmp_path / "work"
    work.mkdir()
    with caplog.at_level(logging.INFO):
        async with (
            LocalBackend() as backend,
            backend.client() as client,
            ServedApp(Runner(make_app(work, gcs_bucket), twine=TWINE), "org/words:1.0", client, concurrency=1),
        ):
            answer = await Child("org/words:1.0", client=client).ask(
                input_values={"text": "a b c"}, handle_monitor_message=messages.append, record_messages_to=record
            )
        assert answer["output_values"] == {"count": 3} and messages == [{"counted": 3}]
        assert any(r.getMessage() == "[org/words:1.0] counted 3 words" for r in caplog.records)
        caplog.clear()
        replayed: list[Any] = []
        emulator = await ChildEmulator.from_file(record)
        again = await emulator.ask(input_values={"text": "a b c"}, handle_monitor_message=replayed.append)
    assert again["output_values"] == {"count": 3} and replayed == [{"counted": 3}]
    assert any(r.getMessage().endswith("counted 3 words") for r in caplog.records)
    assert (root.level, list(root.handlers)) == before  # the user's logging is as it was
