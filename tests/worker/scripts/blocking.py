"""Task type "blocking": the synchronous API, as scripts written for xfworkerutil use it."""

import sys

from asyncwf.blocking.worker import ActivityLogLevel, XFWorkerJob

job = XFWorkerJob()
job.hook_exceptions()
how = job.job["inputs"].get("how", "finish")
job.progress(40.0)
job.activity_log_message("working synchronously", level=ActivityLogLevel.INFO)
with job.server_connection() as conn:
    task_type = job.find_xf_task_type(conn, "blocking")
    assert task_type["name"] == "blocking"
if how == "error":
    job.error("blocking scripts fail too")
if how == "raise":
    raise KeyError("missing column")
print("python", sys.version_info[:2])
job.finish({"answer": {"type": "Int", "value": 42}})
