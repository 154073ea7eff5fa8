"""Task type "summarize": sums the numbers of an input CSV and writes the total as an output CSV."""

import time

FIRST_LINE = time.time()  # the benchmark and tests read this: when the script's first line ran

import asyncio  # noqa: E402
import os  # noqa: E402

from asyncwf.worker import ActivityLogLevel, XFWorkerJob  # noqa: E402


async def main() -> None:
    async with XFWorkerJob() as job:
        job.hook_exceptions()
        inputs = job.job["inputs"]
        if "first_line_file" in inputs:
            with open(inputs["first_line_file"], "a") as f:  # noqa: ASYNC230 - a few bytes, test probe only
                f.write(f"{job.job_serial} {FIRST_LINE}\n")
        if inputs.get("quick"):
            await job.finish({})
            return
        await job.activity_log_message("summing the table")
        table = await job.download_input_file(inputs["table"])
        numbers = [float(line) for line in table.read_text().split()]
        await job.progress(50.0)
        if inputs.get("pause"):
            await asyncio.sleep(float(inputs["pause"]))
        out = await job.create_output_path(table, "_total.csv")
        out.write_text(f"{sum(numbers):g}\n")
        await job.upload_output_file(out)
        async with job.server_connection() as conn:
            task_type = await job.find_xf_task_type(conn, "summarize")
            task = await job.spawn_xf_task_basic(conn, task_type, task_name="follow-up", spawn_key="follow-up")
            await job.spawn_xf_job_basic(
                conn, task_type, task, outputs={"total": {"type": "Float", "value": sum(numbers)}}, sort_order="0001"
            )
        await job.activity_log_message("done summing", level=ActivityLogLevel.WARNING)
        print(f"summed {len(numbers)} numbers in {os.getcwd()}")
        await job.finish({"total": job.create_output_csv(out)}, units={"total": "1"})


asyncio.run(main())
