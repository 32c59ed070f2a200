"""Celery tasks of margin reports: thin adapters over the services, with primitive arguments."""

from __future__ import annotations

from celery import Task, shared_task

from analytics.reports import services


@shared_task(name="analytics.reports.tasks.margin_reports_tick", ignore_result=True)
def margin_reports_tick() -> int:
    """Beat, every few minutes: create the runs of due schedules and queue their sends."""
    result = services.report_schedules_tick()
    return len(result.enqueued_run_ids) + len(result.recovered_run_ids)


@shared_task(
    bind=True,
    name="analytics.reports.tasks.report_run_send",
    ignore_result=True,
    # Acknowledged only when done, and given back to the broker if the worker dies: the run's
    # claim (not the message) decides whether anything is sent, so a redelivery is harmless.
    acks_late=True,
    reject_on_worker_lost=True,
    # The run's attempt limit decides when to stop, not Celery's retry count.
    max_retries=None,
)
def report_run_send(self: Task, run_id: int) -> str:
    """Send one report run; a failed delivery is retried with the service's backoff."""
    try:
        return services.report_run_send(run_id=run_id).value
    except services.DeliveryDeferred as deferred:
        raise self.retry(countdown=deferred.retry_in_seconds, exc=deferred) from None
