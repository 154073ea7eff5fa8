"""The graft language version (the seed's ``__channel__``) and the job kind that runs grafts."""

#: The version of the graft language this client and backend speak.
CHANNEL = "v1"
#: The job-engine kind of compute jobs.
COMPUTE_KIND = "wf.compute"
