"""Worker utilities for task scripts: XamFlow's ``xfworkerutil``, async, over the asyncwf backend.

A task script::

    import asyncio
    from asyncwf.worker import XFWorkerJob

    async def main() -> None:
        async with XFWorkerJob() as job:
            table = await job.download_input_file(job.job["inputs"]["table"])
            out = await job.create_output_path(table, "_summary.csv")
            ...  # write `out`
            await job.upload_output_file(out)
            await job.finish({"summary": job.create_output_csv(out)})

    asyncio.run(main())

``asyncwf worker --server HOST:PORT --scripts DIR`` runs such scripts for the
jobs of their task types (see ``docs/guides/worker.md``).
"""

from asyncwf.worker._arguments import ActivityLogLevel, XFWorkerArguments, format_version, parse_version
from asyncwf.worker._connection import AuthorizationToken, Connection, connect
from asyncwf.worker._job import XFWorkerJob
from asyncwf.worker._parameters import create_parameter, get_parameter_file_references
from asyncwf.worker._queries import (
    create_activity_log_event,
    create_xf_job,
    create_xf_task,
    get_parameter_file_token,
    get_sns_server_connection,
    get_xf_combined_query,
    get_xf_db_entity_by_uuid,
    get_xf_default_sns_server_connection_params,
    get_xf_dependency_package_config_token,
    get_xf_job,
    get_xf_job_log_token,
    get_xf_job_result_token,
    get_xf_jobs_by_task,
    get_xf_jobs_by_workflow,
    get_xf_parameter_float_sequence,
    get_xf_parameter_paired_float_sequences,
    get_xf_parameter_paired_sequences,
    get_xf_parameter_sequence,
    get_xf_project,
    get_xf_projects,
    get_xf_task,
    get_xf_task_config_token,
    get_xf_task_type,
    get_xf_task_type_config_token,
    get_xf_task_types,
    get_xf_tasks_by_workflow,
    get_xf_userdata_token,
    get_xf_workflow,
    get_xf_workflow_config_token,
    get_xf_workflow_run,
    get_xf_workflows_by_project,
    update_xf_job,
    update_xf_project,
    update_xf_task,
    update_xf_workflow,
)
from asyncwf.worker._tempdir import TemporaryWorkingDirectory
from asyncwf.worker._transfer import upload_xf_userdata_file
from asyncwf.worker._worker import Worker, find_scripts

__all__ = [
    "ActivityLogLevel",
    "AuthorizationToken",
    "Connection",
    "TemporaryWorkingDirectory",
    "Worker",
    "XFWorkerArguments",
    "XFWorkerJob",
    "connect",
    "create_activity_log_event",
    "create_parameter",
    "create_xf_job",
    "create_xf_task",
    "find_scripts",
    "format_version",
    "get_parameter_file_references",
    "get_parameter_file_token",
    "get_sns_server_connection",
    "get_xf_combined_query",
    "get_xf_db_entity_by_uuid",
    "get_xf_default_sns_server_connection_params",
    "get_xf_dependency_package_config_token",
    "get_xf_job",
    "get_xf_job_log_token",
    "get_xf_job_result_token",
    "get_xf_jobs_by_task",
    "get_xf_jobs_by_workflow",
    "get_xf_parameter_float_sequence",
    "get_xf_parameter_paired_float_sequences",
    "get_xf_parameter_paired_sequences",
    "get_xf_parameter_sequence",
    "get_xf_project",
    "get_xf_projects",
    "get_xf_task",
    "get_xf_task_config_token",
    "get_xf_task_type",
    "get_xf_task_type_config_token",
    "get_xf_task_types",
    "get_xf_tasks_by_workflow",
    "get_xf_userdata_token",
    "get_xf_workflow",
    "get_xf_workflow_config_token",
    "get_xf_workflow_run",
    "get_xf_workflows_by_project",
    "parse_version",
    "update_xf_job",
    "update_xf_project",
    "update_xf_task",
    "update_xf_workflow",
    "upload_xf_userdata_file",
]
