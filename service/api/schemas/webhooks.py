"""Webhooks on a job request: where to POST the job as it changes, and on which events.

Any job request gains `webhook` and `webhook_events` by inheriting `WebhookFields`. They say how
to report a job, not what to compute, so routers keep them out of `params` (and of the result
cache key) and store them on the job as `Job.webhook`.
"""

from pydantic import AnyHttpUrl, BaseModel, Field

from service.core.jobs import ALL_EVENTS, JobWebhook, WebhookEvent


class WebhookFields(BaseModel):
    """Mixin for job requests."""

    webhook: AnyHttpUrl | None = Field(
        None,
        description="http(s) URL that receives a POST of the job (as JSON) on each event in `webhook_events`, "
        "signed in `X-GANForge-Signature`. The `completed` POST is retried with backoff on 429, 5xx and "
        "network errors; `start` and `progress` are sent once, progress at most every few seconds.",
        examples=["https://example.com/hooks/ganforge"],
    )
    webhook_events: list[WebhookEvent] = Field(
        default_factory=lambda: list(ALL_EVENTS),
        max_length=len(ALL_EVENTS),
        description="Which events to send: `start` (a worker took the job), `progress` (long jobs), "
        "`completed` (succeeded, failed or canceled; the final job). Default: all three.",
        examples=[["completed"]],
    )

    def webhook_spec(self) -> JobWebhook | None:
        if self.webhook is None:
            return None
        return JobWebhook(url=str(self.webhook), events=list(dict.fromkeys(self.webhook_events)))


WEBHOOK_FIELDS = frozenset(WebhookFields.model_fields)
