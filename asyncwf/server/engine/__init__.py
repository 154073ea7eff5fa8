"""The job engine: jobs, leases, executors, and the job kinds the backend runs itself."""
