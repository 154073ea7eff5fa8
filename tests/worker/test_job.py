"""XFWorkerJob in this process against the real backend (the worker-run scripts are in test_worker.py)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from asyncwf.exceptions import Conflict, InvalidArgument, NotFound, UnsupportedFeatureError, UnsupportedFormatError
from asyncwf.worker import (
    XFWorkerJob,
    create_xf_job,
    get_sns_server_connection,
    get_xf_default_sns_server_connection_params,
    get_xf_job,
    get_xf_userdata_token,
)
from asyncwf.worker._transfer import upload, userdata_url
from tests.worker.conftest import XF


async def _job(xf: XF, **fields: object) -> XFWorkerJob:
    record = await create_xf_job(xf.conn, {"task_serial": xf.tasks["summarize"]["serial"], **fields})
    return await XFWorkerJob(xf.arguments(record["serial"]))


async def test_job_record_progress_and_finish(xf: XF) -> None:
    table = await xf.input_file("numbers.csv", "1\n2\n3\n")
    job = await _job(xf, inputs={"table": table}, state="Running")
    assert job.job["inputs"]["table"] == table and job.temp.root.is_dir()
    estimate = await job.progress(25.0)
    assert estimate > 0 and job.job["metadata"]["progress"] == 25.0
    await job.set_estimated_duration(12.5, save=False)
    await job.set_error_message("transient", save=False)
    saved = await job.save_job(sort_order="0007")
    assert saved["metadata"]["estimated_duration"] == 12.5 and saved["metadata"]["error_message"] == "transient"
    assert saved["sort_order"] == "0007"
    await job.clear_error_message()
    assert "error_message" not in (await get_xf_job(xf.conn, job.job_serial))["metadata"]
    for bad in (0, 101, "50", True):
        with pytest.raises(InvalidArgument):
            await job.progress(bad)  # type: ignore[arg-type]
    event = await job.activity_log_message("halfway")
    assert event["job_serial"] == job.job_serial

    # direct access: the input is read where the backend keeps it, unless a copy is asked for
    direct = await job.download_input_file(table)
    assert str(direct).startswith(str(xf.backend.data_dir)) and await anyio.Path(direct).read_text() == "1\n2\n3\n"
    copy = await job.download_input_file(table, copy_even_on_direct_access=True)
    assert job.temp.is_under(copy) and await anyio.Path(copy).read_text() == "1\n2\n3\n"
    out = await job.create_output_path(direct, "_total.csv")
    assert str(out).startswith(str(xf.backend.data_dir)) and out.name.startswith("numbers_total")
    await anyio.Path(out).write_text("6\n")
    await job.upload_output_file(out)  # written in place already
    temp_out = job.create_temp_path("extra.csv")
    await anyio.Path(temp_out).write_text("extra\n")
    await job.upload_output_file(temp_out)  # streamed
    with pytest.raises(InvalidArgument, match="no outputs"):
        await job.finish({"nonsense": job.create_output_csv(out)})
    root = job.temp.root
    await job.finish({"total": job.create_output_csv(out)}, units={"total": "mg"})
    done = await get_xf_job(xf.conn, job.job_serial)
    assert done["state"] == "Done" and done["metadata"]["output_units"] == {"total": "mg"}
    assert done["outputs"]["total"] == {"type": "CSV", "filename": out.name, "job_serial": job.job_serial}
    assert done["metadata"]["progress"] == 100.0 and not await anyio.Path(root).exists()
    # a later job reads the outputs as its inputs
    reader = await _job(xf, inputs={"table": done["outputs"]["total"]})
    assert await anyio.Path(await reader.download_input_file(done["outputs"]["total"])).read_text() == "6\n"
    extra = {"type": "File", "filename": "numbers.csv", "job_serial": job.job_serial}
    with pytest.raises(NotFound):
        await reader.download_input_file(extra)
    related = await reader.download_related_input_file(done["outputs"]["total"], temp_out.name)
    assert await anyio.Path(related).read_text() == "extra\n"
    await reader.aclose()


async def test_error_and_interactive_mode(xf: XF) -> None:
    job = await _job(xf, state="Running")
    root = job.temp.root
    with pytest.raises(SystemExit) as exited:
        await job.error("bad scan")
    assert exited.value.code == 1
    record = await get_xf_job(xf.conn, job.job_serial)
    assert record["metadata"]["error_message"] == "bad scan" and record["state"] == "Running"
    assert await anyio.Path(root).exists()  # kept for debugging

    job = await _job(xf, state="Running", inputs={"x": 1})
    with pytest.raises(SystemExit) as exited:
        await job.switch_to_interactive_mode("needs a human")
    assert exited.value.code == 0
    record = await get_xf_job(xf.conn, job.job_serial)
    assert record["state"] == "ReadyForInteractive" and record["metadata"]["error_message"] == "needs a human"
    task = await xf.conn.get("task", xf.tasks["summarize"]["serial"])
    assert task["initial_state"]["job_serial"] == job.job_serial and task["initial_state"]["inputs"] == {"x": 1}

    async with await _job(xf, state="Running") as job:
        pass
    with pytest.raises(ZeroDivisionError):
        async with await _job(xf, state="Running") as job:
            _ = 1 / 0
    assert "ZeroDivisionError" in (await get_xf_job(xf.conn, job.job_serial))["metadata"]["error_message"]


async def test_stale_job_save_is_a_conflict(xf: XF) -> None:
    job = await _job(xf, state="Running")
    other = await XFWorkerJob(xf.arguments(job.job_serial))
    await other.progress(10)
    with pytest.raises(Conflict):
        await job.progress(20)
    assert (await get_xf_job(xf.conn, job.job_serial))["metadata"]["progress"] == 10
    await job.load_job()
    await job.progress(20)
    await job.aclose()
    await other.aclose()


async def test_output_parameters(xf: XF) -> None:
    job = await _job(xf)
    bitmap = job.create_output_bitmap("a.png")
    image = job.create_output_image(Path("/tmp/scan.aim"), [10, 20, 30], filenames=["scan.raw"],
                                    additional_files=[{"filename": "scan.txt"}])  # fmt: skip
    assert image == {"type": "Image", "filename": "scan.aim", "job_serial": job.job_serial, "size": [10, 20, 30],
                     "filenames": ["scan.raw"],
                     "additional_files": [{"filename": "scan.txt", "job_serial": job.job_serial}]}  # fmt: skip
    voi = job.create_output_image_voi([1, 2, 3], [4, 5, 6], image, name="roi")
    assert voi["pos"] == [1, 2, 3] and voi["name"] == "roi" and "category" not in voi
    snapshot = job.create_output_snapshot(bitmap, image=image)
    for built in (job.create_output_csv("t.csv"), job.create_output_contours("c.json", image),
                  job.create_output_entity("u-1", "scan"), job.create_output_foreign_file("f.bin"),
                  job.create_output_gi_result(snapshot, image), job.create_output_html_document("r.html"),
                  job.create_output_image_pair_list([[image, image]]), job.create_output_mesh("m.stl"),
                  job.create_output_registration_result([0.0] * 16, image1=image),
                  job.create_output_rotated_image_voi([0, 0, 0], [1, 1, 1], [2, 2, 2], [0, 0, 0, 1], image),
                  job.create_output_snapshot_metadata("s.json"), job.create_output_spectra(image, image),
                  job.create_output_video("v.mp4", bitmap)):  # fmt: skip
        assert isinstance(built["type"], str)
    for bad in (lambda: job.create_output_csv("../x.csv"), lambda: job.create_output_image("a", [1.5]),
                lambda: job.create_output_image_voi([1, 2], [1, 2, 3], image),
                lambda: job.create_output_registration_result([1.0] * 5),
                lambda: job.create_output_snapshot({"no": "type"}),
                lambda: job.create_output_image_pair_list([[image]])):  # fmt: skip
        with pytest.raises(InvalidArgument):
            bad()
    await job.aclose()


async def test_config_and_userdata_files(xf: XF, tmp_path: Path) -> None:
    job = await _job(xf)
    source = tmp_path / "settings.json"
    await anyio.Path(source).write_text("{}")
    conn = xf.conn
    token = await conn.file_token("task-type-config", xf.task_types["summarize"]["serial"], write=True)
    from asyncwf.worker._transfer import area_url

    await upload(conn, token, area_url(token, "task-type-config", xf.task_types["summarize"]["serial"],
                                       "settings.json"), source)  # fmt: skip
    got = await job.download_xf_task_type_config_file(xf.task_types["summarize"]["serial"], "settings.json",
                                                      copy_even_on_direct_access=True)  # fmt: skip
    assert await anyio.Path(got).read_text() == "{}"
    with pytest.raises(NotFound):
        await job.download_xf_workflow_config_file(xf.workflow["serial"], "missing.json")
    await job.upload_xf_userdata_file(source, "@xfuserdata/me/settings.json")
    got = await job.download_xf_userdata_file("@xfuserdata/me/settings.json")
    assert await anyio.Path(got).read_text() == "{}"
    with pytest.raises(InvalidArgument):
        await job.download_xf_userdata_file("@xfuserdata/../../files.key")
    # A user's own input, uploaded before any job runs, as the worker guide shows:
    from asyncwf.worker import upload_xf_userdata_file

    await upload_xf_userdata_file(conn, source, "@xfuserdata/bones/numbers.csv")
    table = {"type": "CSV", "filename": "numbers.csv", "virtualpath": "@xfuserdata/bones/numbers.csv"}
    assert await anyio.Path(await job.download_input_file(table)).read_text() == "{}"
    token = await get_xf_userdata_token(conn, [("@xfuserdata/", "r")])
    assert userdata_url(token, "@xfuserdata/me/settings.json").endswith("/v1/xf/userdata/me/settings.json")
    await job.aclose()


async def test_spawning_and_lookups(xf: XF) -> None:
    job = await _job(xf)
    async with job.server_connection() as conn:
        newer = await job.spawn_xf_task_type_basic(conn, {"name": "summarize", "version": "1.10.0"},
                                                   {"inputs": [], "outputs": []})  # fmt: skip
        assert (await job.find_xf_task_type(conn, "summarize"))["serial"] == newer["serial"]
        assert [t["version"] for t in await job.find_xf_task_types(conn, "summarize")] == ["1.10.0", "1.2.0"]
        assert await job.spawn_xf_task_type_basic(conn, {"name": "summarize", "version": "1.10.0"},
                                                  {"inputs": [], "outputs": []}) == newer  # fmt: skip
        with pytest.raises(Conflict):
            await job.spawn_xf_task_type_basic(conn, {"name": "summarize", "version": "1.10.0"}, {"inputs": [1]})
        with pytest.raises(NotFound):
            await job.find_xf_task_type(conn, "nothing")
        assert await job.find_xf_task_types(conn, "nothing", raise_if_not_any=False) == []
        old = xf.task_types["summarize"]
        task = await job.spawn_xf_task_basic(conn, old, spawn_key="next")
        again = await job.spawn_xf_task_basic(conn, newer, spawn_key="next")
        assert again["serial"] == task["serial"] and again["task_type_serial"] == old["serial"]
        upgraded = await job.spawn_xf_task_basic(conn, newer, spawn_key="next", upgrade_task_types=[old])
        assert upgraded["serial"] == task["serial"] and upgraded["task_type_serial"] == newer["serial"]
        spawned = await job.spawn_xf_job_basic(conn, newer, upgraded, outputs={"n": 1}, sort_order="0002")
        assert spawned["state"] == "Done" and spawned["source_job_serial"] == job.job_serial
        assert spawned["engine_job_id"] == ""
        assert "0002" in await job.get_existing_job_sort_orders(conn)
        assert (await job.get_current_task())["serial"] == xf.tasks["summarize"]["serial"]
        assert await job.get_run_entity() is None
        assert await get_xf_default_sns_server_connection_params(conn) is None
    with pytest.raises(UnsupportedFeatureError):
        get_sns_server_connection({})
    for call in (job.get_ipl_image_path({}), job.get_omni_image({}), job.upload_omni_output(None),
                 job.upload_omni_output_only_metadata(None, [])):  # fmt: skip
        with pytest.raises(UnsupportedFormatError, match="ordinary file"):
            await call
    assert f"job {job.job_serial}" in job.get_debug_info()
    await job.aclose()
