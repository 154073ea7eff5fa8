"""Analysis.finalise: output datasets uploaded concurrently to GCS (the emulator), paths swapped for signed URLs."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from asyncwf.data import Dataset, Manifest
from asyncwf.exceptions import InvalidInputException, TwineValidationError
from asyncwf.services import Analysis, Runner

from ..data.test_gcs import _service_account

TWINE = {"output_manifest": {"datasets": {"results": {"purpose": "what the app made"}}}}


async def test_finalise_uploads_output_datasets_and_signs_them(
    gcs_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = _service_account(tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    out = tmp_path / "out"
    await anyio.Path(out).mkdir()
    await anyio.Path(out / "r.csv").write_text("1,2\n")

    async def app(analysis: Analysis) -> None:
        analysis.output_manifest = await Manifest({"results": await Dataset(str(out))})

    runner = Runner(app, twine=TWINE, output_location=f"gs://{gcs_bucket}/outputs")
    analysis = await runner.run(analysis_id="an-1")
    assert analysis.finalised
    signed = analysis.output_manifest.get_dataset("results")  # type: ignore[union-attr]
    assert signed.path.startswith("http")  # a signed URL, not the local directory
    shared = await signed
    assert [f.name for f in shared.files] == ["r.csv"]
    uploaded = await Dataset(f"gs://{gcs_bucket}/outputs/an-1/results")
    assert [f.name for f in uploaded.files] == ["r.csv"]


async def test_finalise_checks_the_outputs(tmp_path: Path) -> None:
    async def app(analysis: Analysis) -> None:
        analysis.output_manifest = Manifest({"other": str(tmp_path)})

    with pytest.raises(TwineValidationError, match="output_manifest"):
        await Runner(app, twine=TWINE).run()

    async def local_target(analysis: Analysis) -> None:
        analysis.output_manifest = await Manifest({"results": str(tmp_path)})
        await analysis.finalise(upload_output_datasets_to=str(tmp_path / "elsewhere"))

    with pytest.raises(InvalidInputException, match="gs://"):
        await Runner(local_target, twine=TWINE).run()
