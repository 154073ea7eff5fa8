"""The asyncwf client: gRPC access to the backend, auth, retries and remote executors."""

from asyncwf.client._auth import Auth
from asyncwf.client._client import Client, raise_for_job
from asyncwf.client._executor import RemoteExecutor
from asyncwf.client._retry import RetryPolicy

__all__ = ["Auth", "Client", "RemoteExecutor", "RetryPolicy", "raise_for_job"]
