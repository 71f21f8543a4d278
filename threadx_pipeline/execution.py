"""Which Dagster executor runs the steps of a launched run, from ``[execution]`` of the settings.

``in_process`` (default): every step in the run's own process, so a run pays for loading the code
once (a backfill's run holds a whole range of months, docs/ARCHITECTURE.md, Asset graph);
``multiprocess``: one process per step on the machine that launched the run, at most
``max_concurrent`` at once (0: Dagster's default, one per CPU); ``celery``: each step is a Celery
task that a ``dagster-celery`` worker runs, on any machine that reaches the broker, the Dagster
instance and the warehouse (docs/DEPLOY.md).

Runs made with ``execute_in_process`` (``threadx aggregate``, the tests) always run in process,
whatever is configured; the executor applies to runs launched through the instance: the UI,
schedules, sensors, backfills (``threadx demo``/``backfill`` included) and ``dagster job execute``.
"""

from __future__ import annotations

import dagster as dg

from threadx_core.settings import Execution


def executor(execution: Execution) -> dg.ExecutorDefinition | None:
    """The executor of every job for ``[execution]``; ``None`` keeps Dagster's default
    (multiprocess for launched runs, one process per CPU)."""
    if execution.executor == "in_process":
        return dg.in_process_executor
    if execution.executor == "celery":
        from dagster_celery import celery_executor  # the `scale` extra

        return celery_executor.configured({"broker": execution.broker, "backend": execution.backend},
                                          name="celery")
    if execution.max_concurrent:
        return dg.multiprocess_executor.configured({"max_concurrent": execution.max_concurrent},
                                                   name="multiprocess")
    return None


def celery_app(execution: Execution):
    """The Celery app a worker runs (``celery -A threadx_pipeline.celery_app worker``): the same
    broker, backend and task routes as the executor of ``[execution]``, with dagster-celery's task
    that executes one step."""
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    settings = CeleryExecutor(retries=RetryMode(RetryMode.DISABLED), broker=execution.broker,
                              backend=execution.backend)
    app = make_app(settings.app_args())
    create_task(app)
    return app
