"""Amazon SNS, which delivers SES notifications: its message signature, the signing
certificate (only from sns.<region>.amazonaws.com, fetched once and kept, and only while
it names SNS and is valid), the topics we accept, and the subscription confirmation SNS
asks for first.

https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from consentapp.webhooks.signatures import Incoming, Refused

log = logging.getLogger(__name__)

# The fields each message type signs, in this order ("Subject" only when present).
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_FIELDS["UnsubscribeConfirmation"] = SIGNED_FIELDS["SubscriptionConfirmation"]
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
# sns.<region>.amazonaws.com, China's regions on amazonaws.com.cn; a region is shaped
# like eu-west-1 or us-gov-west-1, so S3 bucket hosts (sns.s3.amazonaws.com,
# sns.s3-eu-west-1.amazonaws.com) never match: anyone can own a bucket called "sns".
CERTIFICATE_HOST = re.compile(
    r"sns\.(?:(?!cn-)[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}\.amazonaws\.com"
    r"|cn-[a-z]+-[0-9]{1,2}\.amazonaws\.com\.cn)"
)
# The name AWS's SNS signing certificates carry.
CERTIFICATE_NAME = "sns.amazonaws.com"
AWS_HOST = re.compile(r"(?:[a-z0-9-]+\.)+amazonaws\.com(?:\.cn)?")
FETCH_TIMEOUT_SECONDS = 5
MAX_CERTIFICATE_BYTES = 64 * 1024
MAX_CERTIFICATES = 16


class Unreachable(Exception):
    """AWS could not be reached (a certificate or a confirmation): try again later."""


class NotAllowed(ValueError):
    """A URL in a signed message that points outside AWS: never followed."""


# Signing certificates by URL, the oldest dropped past MAX_CERTIFICATES; tests put
# their own certificate here.
CERTIFICATES: OrderedDict[str, x509.Certificate] = OrderedDict()
_lock = threading.Lock()


def verify(incoming: Incoming) -> None:
    """The message's topic is ours, it is fresh, and AWS signed exactly these fields."""
    message = incoming.data
    if not isinstance(message, dict) or not all(
        isinstance(message.get(name), str) for name in ("Type", "TopicArn", "Timestamp")
    ):
        raise Refused("not an SNS message")
    fields = SIGNED_FIELDS.get(message["Type"])
    if fields is None:
        raise Refused(f"unknown SNS message type {message['Type']!r}")
    if message["TopicArn"] not in incoming.config["BOUNCE_WEBHOOK_SES_TOPIC_ARNS"]:
        raise Refused("the topic is not one of BOUNCE_WEBHOOK_SES_TOPIC_ARNS")
    _check_fresh(message["Timestamp"], incoming)
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Refused("unknown SignatureVersion")
    key = signing_key(str(message.get("SigningCertURL") or ""), incoming.now)
    try:
        signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
        key.verify(signature, canonical(message, fields), padding.PKCS1v15(), algorithm())
    except (InvalidSignature, binascii.Error, ValueError):
        raise Refused("the SNS signature does not match") from None


def canonical(message: dict[str, object], fields: tuple[str, ...]) -> bytes:
    """The string SNS signs: each field's name and value on their own lines."""
    parts = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise Refused(f"the SNS message has no {name}")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def _check_fresh(timestamp: str, incoming: Incoming) -> None:
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise Refused("the SNS Timestamp is not a date") from None
    if moment.tzinfo is None:
        raise Refused("the SNS Timestamp has no time zone")
    if abs(incoming.now - moment.timestamp()) > incoming.tolerance:
        raise Refused("the SNS Timestamp is outside the accepted window")


def certificate_url_allowed(url: str) -> bool:
    """https on sns.<region>.amazonaws.com, no credentials or port, a .pem file."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and CERTIFICATE_HOST.fullmatch(parts.hostname or "") is not None
        and parts.username is None
        and port is None
        and parts.path.endswith(".pem")
        and not parts.query
    )


def signing_key(url: str, now: float | None = None) -> rsa.RSAPublicKey:
    """The key of the certificate at `url`: checked first, fetched once, then kept; the
    certificate must name SNS and be valid at `now` each time it is used."""
    if not certificate_url_allowed(url):
        raise Refused("SigningCertURL is not an https address of sns.<region>.amazonaws.com")
    with _lock:
        certificate = CERTIFICATES.get(url)
    if certificate is None:
        try:
            certificate = x509.load_pem_x509_certificate(fetch_certificate(url))
        except ValueError:
            raise Refused("SigningCertURL does not hold a certificate") from None
        check_certificate(certificate, now)
        with _lock:
            CERTIFICATES[url] = certificate
            while len(CERTIFICATES) > MAX_CERTIFICATES:
                CERTIFICATES.popitem(last=False)
    check_certificate(certificate, now)
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused("the SNS certificate does not hold an RSA key")
    return key


def check_certificate(certificate: x509.Certificate, now: float | None = None) -> None:
    """An SNS host could still serve some other certificate: it must be AWS's SNS
    signing certificate (by name) and within its validity period."""
    if CERTIFICATE_NAME not in certificate_names(certificate):
        raise Refused(f"the SNS certificate is not issued to {CERTIFICATE_NAME}")
    moment = datetime.fromtimestamp(now, UTC) if now is not None else datetime.now(UTC)
    if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
        raise Refused("the SNS certificate is expired or not yet valid")


def certificate_names(certificate: x509.Certificate) -> set[str]:
    """The subject's common names and the DNS names it is issued to, lower case."""
    names = {
        str(attribute.value).lower()
        for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    }
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):  # none, or malformed: it names nothing
        return names
    return names | {name.lower() for name in extension.value.get_values_for_type(x509.DNSName)}


def fetch_certificate(url: str) -> bytes:  # pragma: no cover - tests never reach AWS
    """GET the PEM over verified TLS; the URL was checked by the caller."""
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            return bytes(response.read(MAX_CERTIFICATE_BYTES))
    except urllib.error.HTTPError as exc:
        raise Refused(f"SigningCertURL answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise Unreachable(f"the SNS signing certificate could not be fetched: {exc}") from exc


def subscribe_url_allowed(url: str) -> bool:
    """Only https on an amazonaws.com host: a signed message must not send us elsewhere."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host_ok = AWS_HOST.fullmatch(parts.hostname or "") is not None
    return parts.scheme == "https" and host_ok and parts.username is None and port is None


def confirm_subscription(message: dict[str, object]) -> None:
    """Visit the SubscribeURL of a verified SubscriptionConfirmation, as SNS asks."""
    url = str(message.get("SubscribeURL") or "")
    if not subscribe_url_allowed(url):
        raise NotAllowed("SubscribeURL is not an https address on amazonaws.com")
    visit_subscribe_url(url)
    log.info("SNS subscription to %s confirmed", message.get("TopicArn"))


def visit_subscribe_url(url: str) -> None:  # pragma: no cover - tests never reach AWS
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read(MAX_CERTIFICATE_BYTES)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise Unreachable(f"the SNS subscription could not be confirmed: {exc}") from exc
