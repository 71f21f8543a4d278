"""The Celery app of ``dagster-celery`` workers for this project's ``[execution]`` settings.

Start a worker with ``celery -A threadx_pipeline.celery_app worker -n NAME@%h --concurrency N``
(``THREADX_CONFIG`` pointing at the ``threadx.toml`` whose ``[execution]`` names the broker, as
for the webserver and daemon): the broker and backend come from the same settings file as the
executor, so they cannot drift apart. docs/DEPLOY.md.
"""

from __future__ import annotations

from threadx_core import settings
from threadx_pipeline.config import settings_path
from threadx_pipeline.execution import celery_app

_execution = settings.load(settings_path()).execution
if _execution.executor != "celery":
    raise settings.SettingsError(f"{settings_path()}: [execution] executor is {_execution.executor!r}; "
                                 "a Celery worker needs executor = \"celery\" with broker and backend")
app = celery_app(_execution)
