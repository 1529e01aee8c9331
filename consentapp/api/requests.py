"""Data-subject requests: the queue, one request, logging one that came by e-mail,
phone or letter, and starting an erasure for a contact. Each is the staff area's
service with the token as the actor; identity checks and the erasure itself stay
with staff (nothing is erased by the API)."""

from __future__ import annotations

from spectree import Response

from consentapp.api import bp, spec
from consentapp.api.access import current_token, requires
from consentapp.api.changes import check_language
from consentapp.api.pagination import decode_cursor, encode_cursor
from consentapp.api.request_schemas import (
    DataRequestCreate,
    DataRequestList,
    DataRequestOut,
    DataRequestQuery,
    ErasureCreate,
    RequestLogged,
)
from consentapp.api.routes import REFUSALS, checked_email, contact_or_404
from consentapp.api.schemas import Problem
from consentapp.models import ApiScope, DataRequest
from consentapp.problems import ApiProblem
from consentapp.services import api_data
from consentapp.services.rights import RequestError
from consentapp.services.rights_admin import log_erasure, log_request

LOGGED_DETAIL = (
    "The request is logged; the deadline runs from today. Staff check the person's "
    "identity and carry it out."
)


def logged(request: DataRequest) -> tuple[RequestLogged, int]:
    answer = RequestLogged(
        id=request.public_id, kind=request.kind, due_at=request.due_at, detail=LOGGED_DETAIL
    )
    return answer, 202


@bp.get("/data-requests")
@requires(ApiScope.REQUESTS_READ)
@spec.validate(
    query=DataRequestQuery, resp=Response(HTTP_200=DataRequestList, **REFUSALS), tags=["requests"]
)
def list_data_requests(query: DataRequestQuery) -> DataRequestList:
    """Data-subject requests, newest first; `status` and `kind` narrow the list."""
    page = api_data.data_request_page(
        decode_cursor(query.cursor), query.limit, query.status, query.kind
    )
    return DataRequestList(
        items=[DataRequestOut.of(found) for found in page.items],
        next_cursor=encode_cursor(page.after),
    )


@bp.get("/data-requests/<public_id>")
@requires(ApiScope.REQUESTS_READ)
@spec.validate(
    resp=Response(HTTP_200=DataRequestOut, HTTP_404=Problem, **REFUSALS), tags=["requests"]
)
def read_data_request(public_id: str) -> DataRequestOut:
    """One request: its status, deadline, identity check and outcome."""
    found = api_data.data_request_by_id(public_id)
    if found is None:
        raise ApiProblem(404, "No request has this id.")
    return DataRequestOut.of(found)


@bp.post("/data-requests")
@requires(ApiScope.REQUESTS_WRITE)
@spec.validate(
    json=DataRequestCreate,
    resp=Response(HTTP_202=RequestLogged, HTTP_415=Problem, **REFUSALS),
    tags=["requests"],
)
def create_data_request(json: DataRequestCreate) -> tuple[RequestLogged, int]:
    """Log a request that came by e-mail, phone or letter, as staff do. It waits for a
    staff member to record the identity check. The answer is the same whether or not
    the address is known."""
    email = checked_email(json.email)
    check_language(json.language)
    found = log_request(
        json.kind, json.channel, email, "", json.language, current_token(), json.note
    )
    return logged(found)


@bp.post("/contacts/<public_id>/erasure")
@requires(ApiScope.REQUESTS_WRITE)
@spec.validate(
    json=ErasureCreate,
    resp=Response(
        HTTP_202=RequestLogged, HTTP_404=Problem, HTTP_409=Problem, HTTP_415=Problem, **REFUSALS
    ),
    tags=["requests"],
)
def start_erasure(public_id: str, json: ErasureCreate) -> tuple[RequestLogged, int]:
    """Log the contact's request to be erased. Nothing is erased now: staff check the
    identity and carry it out before the deadline. 409 when one is open already."""
    contact = contact_or_404(public_id)
    check_language(json.language)
    try:
        found = log_erasure(contact, json.channel, json.language or "", json.note, current_token())
    except RequestError as error:
        raise ApiProblem(409, f"The request is not logged: {error}.") from None
    return logged(found)
