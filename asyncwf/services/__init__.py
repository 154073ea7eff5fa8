"""Services: apps that answer questions, and the children that ask them (the Octue SDK's API, async).

- :class:`Twine` — a service's data interface, validated with jsonschema (schemas ship in the package);
- :class:`Runner` and :class:`Analysis` — run an app on a question;
- :class:`ServedApp` (``asyncwf serve-app``) — answer questions to a service id through the backend;
- :class:`Child` — ask questions (``ask``, ``ask_multiple``, ``answers``); :class:`ChildEmulator` for tests.
"""

from asyncwf.services._analysis import Analysis
from asyncwf.services._child import Child
from asyncwf.services._configuration import (
    AppConfiguration,
    ServiceConfiguration,
    load_service_and_app_configuration,
)
from asyncwf.services._emulator import ChildEmulator
from asyncwf.services._monitoring import apply_log_handler, send_estimated_seconds_remaining, send_status_text
from asyncwf.services._runner import Runner
from asyncwf.services._serve import ServedApp
from asyncwf.services._twine import Twine

__all__ = [
    "Analysis",
    "AppConfiguration",
    "Child",
    "ChildEmulator",
    "Runner",
    "ServedApp",
    "ServiceConfiguration",
    "Twine",
    "apply_log_handler",
    "load_service_and_app_configuration",
    "send_estimated_seconds_remaining",
    "send_status_text",
]
