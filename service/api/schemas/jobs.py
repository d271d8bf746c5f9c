"""GET /jobs: a page of the caller's jobs."""

from pydantic import BaseModel, Field

from service.core.jobs import Job


class JobPage(BaseModel):
    jobs: list[Job] = Field(description="The caller's jobs on this page, newest first.", examples=[[]])
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last one. A page may hold fewer than "
        "`limit` jobs and still have a next one (filters are applied as the list is read).",
        examples=["MDAwMTczMjM0NTY3ODEyMzo1YjBjOGM1ZTJmOGU0YjFjOWE3ZDNlMmYxYTBiOWM4ZA"],
    )
