"""The shapes of the API's data-subject requests: the queue, one request, logging one."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from consentapp.api.schemas import ListQuery, Strict
from consentapp.models import DataRequest, RequestKind, RequestStatus

StaffChannel = Literal["email", "phone", "letter"]


class DataRequestQuery(ListQuery):
    status: RequestStatus | None = None
    kind: RequestKind | None = None


class DataRequestOut(BaseModel):
    id: str = Field(description="The request's public id")
    kind: RequestKind
    status: RequestStatus
    channel: str
    email: str | None = Field(description="Kept only while the request is open")
    language: str
    received_at: datetime
    due_at: datetime = Field(description="The deadline (GDPR art. 12(3))")
    extension_reason: str | None
    verified_at: datetime | None
    completed_at: datetime | None
    outcome: str | None
    note: str | None

    @classmethod
    def of(cls, request: DataRequest) -> DataRequestOut:
        return cls(
            id=request.public_id,
            kind=request.kind,
            status=request.status,
            channel=request.channel,
            email=request.email,
            language=request.language,
            received_at=request.received_at,
            due_at=request.due_at,
            extension_reason=request.extension_reason,
            verified_at=request.verified_at,
            completed_at=request.completed_at,
            outcome=request.outcome,
            note=request.note,
        )


class DataRequestList(BaseModel):
    items: list[DataRequestOut]
    next_cursor: str | None = None


class DataRequestCreate(Strict):
    """A request that came by e-mail, phone or letter, as staff log it."""

    kind: RequestKind
    email: str = Field(min_length=3, max_length=320)
    channel: StaffChannel
    language: str = Field(default="nl", max_length=8, description="For our answer")
    note: str = Field(default="", max_length=2000)


class ErasureCreate(Strict):
    """How the person asked to be erased; the answer goes out in `language` (default:
    the contact's)."""

    channel: StaffChannel
    language: str | None = Field(default=None, max_length=8)
    note: str = Field(default="", max_length=2000)


class RequestLogged(BaseModel):
    """A logged request: it waits for the identity check staff record, then for staff
    to carry it out."""

    status: Literal["accepted"] = "accepted"
    id: str
    kind: RequestKind
    due_at: datetime
    detail: str
