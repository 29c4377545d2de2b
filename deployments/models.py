"""Parameters every operated deployment takes besides the flow's own model (the UI shows them as a section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OpsOptions(BaseModel):
    """Run context: the ticket this run serves and how to behave when the target is busy."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: str | None = Field(default=None, description="Ticket / change number (set by the ticket service).")
    requester: str | None = Field(default=None, description="Who asked for this run (cannot approve it).")
    ticket_url: str | None = Field(default=None, description="Link to the ticket in the ticketing system.")
    callback_url: str | None = Field(default=None, description="Where the ticket service posts the outcome "
                                     "when the run ends (set by the ticket service).")
    on_lock_busy: Literal["wait", "fail"] | None = Field(
        default=None, description="When another run holds the same target: wait, or fail at once naming the "
                                  "holder. Empty = the procedure's default.")
    lock_wait_seconds: float | None = Field(default=None, ge=0, description="Longest wait for a busy target "
                                            "(empty = no limit).")
