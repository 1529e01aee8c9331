"""What comes back: delivery status notifications, spam complaints and older MTAs'
plain-text bounces, read into one shape the bounce handling can act on.

Pure and defensive: the standard library's `email` package reads the bytes, nothing
here touches the database, and a report we cannot read is logged and dropped (None),
never raised, because whoever sent it is not someone we can answer. Auto-replies and
delay notices are not bounces and give None too, so nobody is marked undeliverable for
being on holiday or for a slow server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses

from consentapp.mail import report_phrases as phrases
from consentapp.mail import report_text as text
from consentapp.mail.report_text import BounceKind, classify

__all__ = ["BounceKind", "FailedRecipient", "Report", "classify", "parse_report"]

log = logging.getLogger(__name__)

COMPLAINT_TYPES = frozenset({"abuse", "fraud", ""})
STATUS_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
FEEDBACK_PARTS = frozenset({"message/feedback-report"})
RETURNED_PARTS = frozenset(
    {"message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"}
)
FAILED_ACTIONS = frozenset({"failed"})
RETURN_PATH_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To")


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    address: str
    kind: BounceKind
    status: str | None
    diagnostic: str | None
    original: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    format: str
    recipients: tuple[FailedRecipient, ...]
    report_id: str
    original_message_id: str | None
    return_paths: tuple[str, ...]
    feedback_type: str | None = None
    original_recipient: str | None = None


def parse_report(raw: bytes) -> Report | None:
    """None for anything that is not a bounce or complaint to act on (see the module
    docstring); a report that breaks the parser is logged and dropped."""
    try:
        return _parse(raw)
    except Exception:  # a hostile report must never stop the mailbox or the server
        log.warning("Unreadable bounce report dropped (%d bytes)", len(raw or b""), exc_info=True)
        return None


# --- reading headers ---------------------------------------------------------------


def _get(message: Message, name: str) -> str:
    return text.header_text(message.get(name))


def _all(message: Message, name: str) -> list[str]:
    return [text.header_text(value) for value in message.get_all(name) or []]


def _addresses(values: Iterable[str]) -> Iterator[str]:
    for _, address in getaddresses(list(values)):
        if "@" in address and " " not in address:
            yield address


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value))


# --- the parts of a report -----------------------------------------------------------


def _parts(message: Message) -> Iterator[Message]:
    """Every part, without descending into the returned message (its parts are not ours)."""
    yield message
    if message.get_content_type() in RETURNED_PARTS | STATUS_PARTS | FEEDBACK_PARTS:
        return
    for part in _subparts(message):
        yield from _parts(part)


def _subparts(message: Message) -> list[Message]:
    """The parts inside, read without get_payload() decoding a text body (which can
    raise on a hostile charset parameter)."""
    if not message.is_multipart():
        return []
    return [part for part in message.get_payload() if isinstance(part, Message)]


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return text.bytes_text(payload, part.get_content_charset())


def _block_bytes(block: Message) -> bytes:
    """A parsed field block back as the bytes it came from (8-bit text kept intact)."""
    head = "".join(f"{name}: {value}\n" for name, value in block.raw_items())
    body = block.get_payload(decode=True)  # without decode, 8-bit bytes become U+FFFD
    return (
        head.encode("utf-8", "surrogateescape") + b"\n" + (body if isinstance(body, bytes) else b"")
    )


def _field_blocks(part: Message) -> list[Message]:
    """The field groups of a delivery-status or feedback-report part (per-message first).

    The parser splits message/delivery-status into blocks itself, but not its UTF-8
    form (message/global-delivery-status, RFC 6533) nor a part some MTA encoded in
    base64 or quoted-printable: those we decode and split ourselves.
    """
    payload = _subparts(part)
    encoding = _get(part, "Content-Transfer-Encoding").lower()
    if payload:
        encoded = encoding in ("base64", "quoted-printable")
        if part.get_content_type() == "message/delivery-status" and not encoded:
            return payload
        carrier = Message()
        if encoded:
            carrier["Content-Transfer-Encoding"] = encoding
        raw = b"".join(_block_bytes(block) for block in payload)
        carrier.set_payload(raw.decode("ascii", "surrogateescape"))
        part = carrier
    body = _decoded(part).replace("\r\n", "\n")[: text.SCAN_LIMIT]
    parser = HeaderParser(policy=policy.compat32)
    return [parser.parsestr(block.strip() + "\n") for block in body.split("\n\n") if block.strip()]


def _returned_headers(message: Message) -> Message | None:
    """The headers of the mail that bounced, attached as message/rfc822 or headers only."""
    for part in _parts(message):
        kind = part.get_content_type()
        if kind not in RETURNED_PARTS:
            continue
        attached = _subparts(part)
        if attached:
            return attached[0]
        body = _decoded(part).replace("\r\n", "\n")[: text.SCAN_LIMIT]
        return HeaderParser(policy=policy.compat32).parsestr(body, headersonly=True)
    return None


def _first_part(message: Message, kinds: frozenset[str]) -> Message | None:
    return next((part for part in _parts(message) if part.get_content_type() in kinds), None)


# --- the three formats -------------------------------------------------------------------


def _dsn_recipient(block: Message) -> tuple[str, FailedRecipient | None]:
    """The block's action, and the failed recipient it describes (None if not failed)."""
    action = _get(block, "Action").lower().split(" ")[0]
    status_field = _get(block, "Status")
    status = text.enhanced_code(status_field)
    if not action and (status or "").startswith("5"):
        action = "failed"
    if action not in FAILED_ACTIONS:
        return action, None
    original = text.field_address(_get(block, "Original-Recipient"))
    address = text.field_address(_get(block, "Final-Recipient")) or original
    if address is None:
        return action, None
    diagnostic = _get(block, "Diagnostic-Code")
    kind, semicolon, rest = diagnostic.partition(";")
    if semicolon and " " not in kind.strip():
        diagnostic = rest
    diagnostic_line = text.one_line(diagnostic)
    status = status or text.enhanced_code(diagnostic_line)
    recipient = FailedRecipient(
        address=address,
        kind=classify(status, diagnostic_line),
        status=status,
        diagnostic=diagnostic_line,
        original=original,
    )
    return action, recipient


def _dsn(message: Message, status_part: Message) -> tuple[FailedRecipient, ...] | None:
    """The failed recipients; None when the part names no recipient at all (unreadable)."""
    blocks = _field_blocks(status_part)
    actions: list[str] = []
    failed: list[FailedRecipient] = []
    for block in blocks:  # the per-message block has no Action; some MTAs leave it out
        action, recipient = _dsn_recipient(block)
        if action:
            actions.append(action)
        if recipient is not None:
            failed.append(recipient)
    if not actions:
        return None
    return tuple(failed)


def _arf(message: Message, feedback: Message, returned: Message | None) -> Report | None:
    fields = _field_blocks(feedback)
    block = fields[0] if fields else Message()
    feedback_type = _get(block, "Feedback-Type").lower()
    if feedback_type not in COMPLAINT_TYPES:
        return None
    rcpt_to = [a for value in _all(block, "Original-Rcpt-To") if (a := text.field_address(value))]
    original_to = list(_addresses(_all(returned, "To"))) if returned is not None else []
    addresses = _dedupe(rcpt_to or original_to)
    recipients = tuple(
        FailedRecipient(
            address,
            BounceKind.COMPLAINT,
            None,
            f"feedback-type {feedback_type}" if feedback_type else "feedback report without a type",
        )
        for address in addresses[: text.MAX_PLAIN_RECIPIENTS]
    )
    mail_from = next(
        (a for value in _all(block, "Original-Mail-From") if (a := text.field_address(value))), None
    )
    return _report(
        message,
        "arf",
        recipients,
        returned,
        return_path=mail_from,
        feedback_type=feedback_type or None,
        original_recipient=next(iter(rcpt_to or original_to), None),
    )


def _plain(message: Message, subject: str) -> Report | None:
    sender = _get(message, "From")
    failed = list(_addresses(_all(message, "X-Failed-Recipients")))
    if not (
        failed or phrases.BOUNCE_SENDER.search(sender) or phrases.BOUNCE_SUBJECT.search(subject)
    ):
        return None
    body = _body_text(message)
    notice, _ = text.split_returned(body)
    if not text.looks_failed(subject, notice, failed):
        return None
    known = {a.lower() for a in _addresses([sender, *_return_path_values(message)])}
    scanned = text.scan_plain(body, known, failed)
    if scanned is None:
        return None
    recipients = tuple(
        FailedRecipient(
            address=failure.address,
            kind=classify(text.enhanced_code(failure.reason), failure.reason),
            status=text.enhanced_code(failure.reason),
            diagnostic=failure.reason,
        )
        for failure in scanned.failures
    )
    return _report(
        message,
        "plain",
        recipients,
        None,
        message_id=scanned.message_id,
        return_path=scanned.return_path,
        original_recipient=scanned.original_to,
    )


def _body_text(message: Message) -> str:
    """The report's own text (plain preferred, else HTML without tags), first 64 kB."""
    html = ""
    for part in _parts(message):
        kind = part.get_content_type()
        if kind == "text/plain":
            return _decoded(part)[: text.SCAN_LIMIT]
        if kind == "text/html" and not html:
            html = text.html_to_text(_decoded(part))
    if not html and not message.is_multipart():
        return _decoded(message)[: text.SCAN_LIMIT]  # a multipart without its boundary
    return html


# --- putting it together -----------------------------------------------------------------


def _return_path_values(message: Message) -> list[str]:
    return [value for name in RETURN_PATH_HEADERS for value in _all(message, name)]


def _report(
    message: Message,
    form: str,
    recipients: tuple[FailedRecipient, ...],
    returned: Message | None,
    *,
    message_id: str | None = None,
    return_path: str | None = None,
    feedback_type: str | None = None,
    original_recipient: str | None = None,
) -> Report | None:
    returned_paths: list[str] = []
    if returned is not None:
        message_id = message_id or text.bare_id(_get(returned, "Message-ID"))
        returned_paths = [_get(returned, "Return-Path").strip("<> ")]
        if original_recipient is None:
            original_recipient = next(_addresses(_all(returned, "To")), None)
    if return_path:
        returned_paths.append(return_path)
    paths = _dedupe(
        [*_addresses(_return_path_values(message)), *(p for p in returned_paths if "@" in p)]
    )
    if not recipients and not (form == "arf" and paths):
        return None
    return Report(
        format=form,
        recipients=recipients,
        report_id="",  # set by _parse, which has the raw bytes
        original_message_id=message_id,
        return_paths=paths,
        feedback_type=feedback_type,
        original_recipient=original_recipient,
    )


def _is_auto_reply(message: Message, subject: str) -> bool:
    """A vacation or other automatic answer from a mailbox, not from a mail system.

    Postfix, Exim and Gmail mark their bounces "Auto-Submitted: auto-replied" too, so a
    report (a status or feedback part, or Exim's X-Failed-Recipients) is judged by its
    content, and that header counts only when a person's address sent it.
    """
    if _first_part(message, STATUS_PARTS | FEEDBACK_PARTS) is not None:
        return False
    if message["X-Failed-Recipients"] is not None:
        return False
    submitted = _get(message, "Auto-Submitted").lower()
    from_system = phrases.BOUNCE_SENDER.search(_get(message, "From"))
    if submitted.startswith(("auto-replied", "auto-notified")) and not from_system:
        return True
    if any(message.get(name) is not None for name in ("X-Autoreply", "X-Autorespond")):
        return True
    if _get(message, "Precedence").lower() == "auto_reply":
        return True
    return not phrases.BOUNCE_SUBJECT.search(subject) and bool(
        phrases.AUTO_REPLY_SUBJECT.search(subject)
    )


def _parse(raw: bytes) -> Report | None:
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        return None
    message = BytesParser(policy=policy.compat32).parsebytes(bytes(raw))
    subject = _get(message, "Subject")[:1000]
    if _is_auto_reply(message, subject):
        return None
    report = _dispatch(message, subject)
    if report is None:
        return None
    own_id = text.bare_id(_get(message, "Message-ID"))
    report_id = own_id or "sha256:" + hashlib.sha256(bytes(raw)).hexdigest()
    return dataclasses.replace(report, report_id=report_id)


def _dispatch(message: Message, subject: str) -> Report | None:
    feedback = _first_part(message, FEEDBACK_PARTS)
    if feedback is not None:
        return _arf(message, feedback, _returned_headers(message))
    status_part = _first_part(message, STATUS_PARTS)
    if status_part is not None:
        recipients = _dsn(message, status_part)
        if recipients is not None:
            return _report(message, "dsn", recipients, _returned_headers(message))
        log.warning("Delivery report without a readable recipient; reading its text instead")
    return _plain(message, subject)
