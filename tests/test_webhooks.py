"""Provider webhooks for bounces and complaints: each provider's signature is checked
(anything unsigned, wrongly signed or stale is a 401), a provider without its secret is
switched off (404), bad bodies get a clear 4xx, and each provider's real payloads are
read into reports.

Amazon is never reached: the tests sign SNS messages with a certificate they make
and put into the certificate cache under an SNS address.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _pytest.logging import LogCaptureFixture
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from consentapp.config import ConfigError
from consentapp.extensions import db
from consentapp.mail import providers
from consentapp.mail.providers import MalformedEvent, provider_reports
from consentapp.mail.reports import BounceKind, FailedRecipient
from consentapp.models import Bounce, Campaign, ConsentEvent, Contact, IncomingReport
from consentapp.services.bounces import process_queue
from consentapp.webhooks import sns
from consentapp.webhooks.signatures import MAILGUN_TOKENS, Refused, SeenTokens
from tests.builders import BOUNCE_DOMAIN
from tests.conftest import make_app
from tests.flows import last_newsletter, send_campaign
from tests.helpers import ledger
from tests.services import SMTPServer

DATA = Path(__file__).resolve().parent / "data" / "webhooks"
PROVIDERS = ["ses", "postmark", "sendgrid", "mailgun", "generic"]
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
SUBSCRIBE_URL = (
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
    + TOPIC
    + "&Token=2336412f37f"
)


def payload(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text())


# --- the secrets, made at run time ---------------------------------------------------


@dataclass
class Keys:
    """What the operator configured, and what the providers sign with."""

    sns: rsa.RSAPrivateKey
    sendgrid: ec.EllipticCurvePrivateKey
    postmark: str
    mailgun: str
    standard: bytes

    def settings(self) -> dict[str, Any]:
        public = self.sendgrid.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "BOUNCE_WEBHOOK_SES_TOPIC_ARNS": [TOPIC],
            "BOUNCE_WEBHOOK_POSTMARK_SECRET": self.postmark,
            "BOUNCE_WEBHOOK_SENDGRID_KEY": base64.b64encode(public).decode(),
            "BOUNCE_WEBHOOK_MAILGUN_KEY": self.mailgun,
            "BOUNCE_WEBHOOK_SECRET": "whsec_" + base64.b64encode(self.standard).decode(),
        }


def self_signed(
    key: rsa.RSAPrivateKey,
    common_name: str = "sns.amazonaws.com",
    dns_names: tuple[str, ...] = ("sns.amazonaws.com",),
    valid_from: timedelta = timedelta(days=-1),
    valid_until: timedelta = timedelta(days=30),
) -> x509.Certificate:
    """Named as AWS's SNS signing certificates are, valid `valid_from` to `valid_until`
    from now."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid_from)
        .not_valid_after(now + valid_until)
    )
    if dns_names:
        names = [x509.DNSName(dns) for dns in dns_names]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256())


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        sns=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        sendgrid=ec.generate_private_key(ec.SECP256R1()),
        postmark=secrets.token_urlsafe(18),
        mailgun=secrets.token_hex(20),
        standard=secrets.token_bytes(32),
    )


@pytest.fixture
def hooks(app: Flask, keys: Keys) -> Iterator[Keys]:
    """Every provider switched on, and SNS's certificate in the cache."""
    app.config.update(keys.settings())
    sns.CERTIFICATES[CERT_URL] = self_signed(keys.sns)
    yield keys
    sns.CERTIFICATES.pop(CERT_URL, None)


# --- signing as each provider does ---------------------------------------------------


def sns_envelope(
    keys: Keys, message: Any, kind: str = "Notification", version: str = "1", **changes: Any
) -> dict[str, Any]:
    """A real-shaped SNS message, signed as the SNS documentation describes."""
    envelope: dict[str, Any] = {
        "Type": kind,
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
    }
    if kind == "Notification":
        envelope["Subject"] = "Amazon SES Email Event Notification"
        envelope["UnsubscribeURL"] = "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"
    else:
        envelope["Token"] = "2336412f37f"
        envelope["SubscribeURL"] = SUBSCRIBE_URL
    envelope.update(changes)
    if kind == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{n}\n{envelope[n]}\n" for n in names if envelope.get(n) is not None)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = keys.sns.sign(text.encode(), padding.PKCS1v15(), algorithm)
    envelope["Signature"] = base64.b64encode(signature).decode()
    return envelope


def mailgun_signed(keys: Keys, data: dict[str, Any], at: float | None = None) -> dict[str, Any]:
    signed = copy.deepcopy(data)
    timestamp = str(int(at if at is not None else time.time()))
    token = secrets.token_hex(25)
    digest = hmac.new(keys.mailgun.encode(), (timestamp + token).encode(), hashlib.sha256)
    signed["signature"] = {"timestamp": timestamp, "token": token, "signature": digest.hexdigest()}
    return signed


def request_for(
    keys: Keys, provider: str, data: Any, age: float = 0
) -> tuple[bytes, dict[str, str], str]:
    """(body, headers, content type) as the provider sends them, signed `age` seconds ago."""
    at = time.time() - age
    if provider == "ses":
        envelope = sns_envelope(keys, data)
        stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        envelope = sns_envelope(keys, data, Timestamp=stamp) if age else envelope
        headers = {"x-amz-sns-message-type": "Notification"}
        return json.dumps(envelope).encode(), headers, "text/plain; charset=UTF-8"
    if provider == "mailgun":
        return json.dumps(mailgun_signed(keys, data, at)).encode(), {}, "application/json"
    body = json.dumps(data).encode()
    timestamp = str(int(at))
    if provider == "postmark":
        credentials = base64.b64encode(f"postmark:{keys.postmark}".encode()).decode()
        return body, {"Authorization": f"Basic {credentials}"}, "application/json"
    if provider == "sendgrid":
        signature = keys.sendgrid.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return (
            body,
            {
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            },
            "application/json",
        )
    message_id = "msg_" + secrets.token_hex(8)
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = base64.b64encode(hmac.new(keys.standard, signed, hashlib.sha256).digest()).decode()
    headers = {"webhook-id": message_id, "webhook-timestamp": timestamp}
    return body, headers | {"webhook-signature": f"v1,{mac}"}, "application/json"


BOUNCES = {
    "ses": "ses-bounce-permanent",
    "postmark": "postmark-hard-bounce",
    "sendgrid": "sendgrid-events",
    "mailgun": "mailgun-failed-permanent",
    "generic": "generic-bounce",
}


def post(
    client: FlaskClient,
    provider: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
    query: str = "",
) -> TestResponse:
    return client.post(
        f"/webhooks/bounces/{provider}{query}",
        data=body,
        headers=headers or {},
        content_type=content_type,
    )


def send_signed(client: FlaskClient, keys: Keys, provider: str, data: Any, age: float = 0) -> Any:
    body, headers, content_type = request_for(keys, provider, data, age)
    return post(client, provider, body, headers, content_type)


def queued(app: Flask) -> int:
    """Reports waiting in the inbound queue."""
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count(IncomingReport.id))) or 0)


def problem_of(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(True))
    assert response.mimetype == "application/problem+json"
    document: dict[str, Any] = response.get_json(force=True)
    assert document["status"] == status and document["detail"]
    return document


# --- verification ------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_correctly_signed_bounce_is_queued(
    client: FlaskClient, hooks: Keys, provider: str
) -> None:
    response = send_signed(client, hooks, provider, payload(BOUNCES[provider]))
    assert response.status_code == 200, response.get_data(True)
    assert response.get_json() == {"status": "queued"}
    assert queued(client.application) == 1
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unsigned_request_is_refused(client: FlaskClient, hooks: Keys, provider: str) -> None:
    body, _, content_type = request_for(hooks, provider, payload(BOUNCES[provider]))
    if provider in ("ses", "mailgun"):  # these sign inside the body: take it out
        data = json.loads(body)
        data.pop("Signature" if provider == "ses" else "signature")
        body = json.dumps(data).encode()
    problem_of(post(client, provider, body, {}, content_type), 401)
    assert queued(client.application) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_signature_is_refused(client: FlaskClient, hooks: Keys, provider: str) -> None:
    """The payload changed after signing: one more bounce slipped in."""
    body, headers, content_type = request_for(hooks, provider, payload(BOUNCES[provider]))
    if provider == "ses":
        envelope = json.loads(body)
        envelope["Message"] = envelope["Message"].replace("gone.reader", "someone.else")
        tampered = json.dumps(envelope).encode()
    elif provider == "mailgun":
        data = json.loads(body)
        data["signature"]["timestamp"] = str(int(data["signature"]["timestamp"]) - 1)
        tampered = json.dumps(data).encode()
    else:
        tampered = body.replace(b"@example", b"@elsewhere")
        assert tampered != body
    if provider == "postmark":
        wrong = base64.b64encode(f"postmark:{hooks.postmark}x".encode()).decode()
        headers = {"Authorization": f"Basic {wrong}"}
        tampered = body
    problem_of(post(client, provider, tampered, headers, content_type), 401)
    assert queued(client.application) == 0


@pytest.mark.parametrize("provider", ["ses", "sendgrid", "mailgun", "generic"])
@pytest.mark.parametrize("age", [301, -301])
def test_a_stale_or_future_signature_is_refused(
    client: FlaskClient, hooks: Keys, provider: str, age: int
) -> None:
    response = send_signed(client, hooks, provider, payload(BOUNCES[provider]), age=age)
    problem_of(response, 401)


@pytest.mark.parametrize("provider", ["ses", "sendgrid", "mailgun", "generic"])
def test_a_signature_within_the_tolerance_is_taken(
    client: FlaskClient, hooks: Keys, provider: str
) -> None:
    response = send_signed(client, hooks, provider, payload(BOUNCES[provider]), age=250)
    assert response.status_code == 200, response.get_data(True)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_without_its_secret_is_switched_off(
    app: Flask, client: FlaskClient, keys: Keys, provider: str
) -> None:
    """Signed correctly, but the operator never configured it: the URL does not exist."""
    body, headers, content_type = request_for(keys, provider, payload(BOUNCES[provider]))
    problem_of(post(client, provider, body, headers, content_type), 404)


@pytest.mark.parametrize("name", ["amazon", "SES", "ses.json", "..", "%00"])
def test_an_unknown_provider_is_not_found(client: FlaskClient, hooks: Keys, name: str) -> None:
    problem_of(post(client, name, b"{}"), 404)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[" * 100_000])
def test_a_body_that_is_not_json_is_a_400(
    client: FlaskClient, hooks: Keys, provider: str, body: bytes
) -> None:
    problem_of(post(client, provider, body, content_type="application/json"), 400)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data", "text/html"]
)
def test_a_wrong_content_type_is_a_415(
    client: FlaskClient, hooks: Keys, provider: str, content_type: str
) -> None:
    body, headers, _ = request_for(hooks, provider, payload(BOUNCES[provider]))
    problem_of(post(client, provider, body, headers, content_type), 415)


def test_sns_posts_json_as_text_plain_and_only_ses_takes_it(
    client: FlaskClient, hooks: Keys
) -> None:
    body, headers, _ = request_for(hooks, "generic", payload(BOUNCES["generic"]))
    problem_of(post(client, "generic", body, headers, "text/plain"), 415)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_payload_over_1_mb_is_a_413(client: FlaskClient, hooks: Keys, provider: str) -> None:
    data = payload(BOUNCES[provider])
    padded = {"padding": "x" * (1024 * 1024), "data": data}
    body, headers, content_type = request_for(hooks, provider, padded)
    problem_of(post(client, provider, body, headers, content_type), 413)


def test_a_mailgun_request_replayed_within_the_window_is_refused(
    client: FlaskClient, hooks: Keys
) -> None:
    body, headers, content_type = request_for(hooks, "mailgun", payload(BOUNCES["mailgun"]))
    assert post(client, "mailgun", body, headers, content_type).status_code == 200
    problem = problem_of(post(client, "mailgun", body, headers, content_type), 401)
    assert "replay" in problem["detail"]


def test_seen_tokens_forget_after_the_window_and_stay_bounded() -> None:
    seen = SeenTokens(limit=3)
    assert seen.first_use("a", now=1000, window=300)
    assert not seen.first_use("a", now=1100, window=300)
    assert seen.first_use("a", now=1000 + 601, window=300), "kept past the window"
    for token in "bcde":
        assert seen.first_use(token, now=2000, window=300)
    assert len(seen._expiry) == 3


def test_postmark_takes_a_user_and_password_pair_too(
    app: Flask, client: FlaskClient, hooks: Keys
) -> None:
    app.config["BOUNCE_WEBHOOK_POSTMARK_SECRET"] = f"bounces:{hooks.postmark}"
    body = json.dumps(payload(BOUNCES["postmark"])).encode()

    def basic(pair: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    assert post(client, "postmark", body, basic(f"bounces:{hooks.postmark}")).status_code == 200
    refused = post(client, "postmark", body, basic(f"other:{hooks.postmark}"))
    problem_of(refused, 401)
    assert refused.headers["WWW-Authenticate"].startswith("Basic")


def test_standard_webhooks_accepts_any_one_valid_signature_of_several(
    client: FlaskClient, hooks: Keys
) -> None:
    """While a key rotates the sender signs with both; unknown versions are skipped."""
    body, headers, _ = request_for(hooks, "generic", payload(BOUNCES["generic"]))
    good = headers["webhook-signature"].split(",", 1)[1]
    headers["webhook-signature"] = f"v1,{base64.b64encode(b'0' * 32).decode()} v2,abc v1,{good}"
    assert post(client, "generic", body, headers).status_code == 200
    headers["webhook-signature"] = f"v2,{good}"
    problem_of(post(client, "generic", body, headers), 401)


# --- SNS ------------------------------------------------------------------------------


def send_sns(client: FlaskClient, envelope: dict[str, Any]) -> TestResponse:
    return post(client, "ses", json.dumps(envelope).encode(), content_type="text/plain")


def test_sns_signature_version_2_is_sha256(client: FlaskClient, hooks: Keys) -> None:
    envelope = sns_envelope(hooks, payload("ses-complaint"), version="2")
    assert send_sns(client, envelope).status_code == 200
    envelope["SignatureVersion"] = "1"  # the same signature claimed as SHA1
    problem_of(send_sns(client, envelope), 401)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/SimpleNotificationService-1.pem",
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-1.pem",
        "https://s3.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-1.pem",
        "https://user@sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.txt",
        # S3 addresses of a bucket named "sns": anyone may own it
        "https://sns.s3.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.s3-eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.s3.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.s3.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
        "https://sns.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.cn-north-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com./SimpleNotificationService-1.pem",
    ],
)
def test_a_certificate_outside_sns_is_never_used_even_when_cached(
    client: FlaskClient, hooks: Keys, url: str
) -> None:
    """The cache holds the test's certificate under the bad URL too: the URL check
    comes first, so nothing is fetched and nothing is trusted."""
    sns.CERTIFICATES[url] = sns.CERTIFICATES[CERT_URL]
    try:
        envelope = sns_envelope(hooks, payload("ses-complaint"), SigningCertURL=url)
        problem = problem_of(send_sns(client, envelope), 401)
        assert "SigningCertURL" in problem["detail"]
    finally:
        sns.CERTIFICATES.pop(url, None)


@pytest.mark.parametrize(
    "host",
    [
        "sns.eu-west-1.amazonaws.com",
        "sns.us-east-1.amazonaws.com",
        "sns.ap-southeast-2.amazonaws.com",
        "sns.us-gov-west-1.amazonaws.com",
        "sns.cn-north-1.amazonaws.com.cn",
        "sns.cn-northwest-1.amazonaws.com.cn",
    ],
)
def test_every_regions_sns_host_is_a_certificate_address(host: str) -> None:
    assert sns.certificate_url_allowed(f"https://{host}/SimpleNotificationService-1.pem")


def test_a_certificate_named_by_its_alternative_name_alone_is_taken(
    client: FlaskClient, hooks: Keys
) -> None:
    sns.CERTIFICATES[CERT_URL] = self_signed(hooks.sns, common_name="Amazon")
    assert send_sns(client, sns_envelope(hooks, payload("ses-complaint"))).status_code == 200


@pytest.mark.parametrize(
    ("certificate", "refusal"),
    [
        ({"common_name": "sns.evil.example", "dns_names": ()}, "sns.amazonaws.com"),
        ({"common_name": "Amazon", "dns_names": ("sns.amazonaws.com.evil.example",)}, "issued"),
        ({"valid_from": timedelta(days=-30), "valid_until": timedelta(minutes=-1)}, "expired"),
        ({"valid_from": timedelta(days=1), "valid_until": timedelta(days=30)}, "not yet valid"),
    ],
)
def test_a_certificate_that_is_not_snss_or_not_valid_now_is_refused(
    client: FlaskClient, hooks: Keys, certificate: dict[str, Any], refusal: str
) -> None:
    """From a real SNS address, signed by its key, and still refused."""
    sns.CERTIFICATES[CERT_URL] = self_signed(hooks.sns, **certificate)
    problem = problem_of(send_sns(client, sns_envelope(hooks, payload("ses-complaint"))), 401)
    assert refusal in problem["detail"]
    assert queued(client.application) == 0


def test_a_fetched_certificate_of_another_name_is_neither_used_nor_kept(
    monkeypatch: pytest.MonkeyPatch, keys: Keys
) -> None:
    pem = self_signed(keys.sns, "sns.evil.example", ()).public_bytes(serialization.Encoding.PEM)
    monkeypatch.setattr(sns, "fetch_certificate", lambda url: pem)
    monkeypatch.setattr(sns, "CERTIFICATES", type(sns.CERTIFICATES)())
    with pytest.raises(Refused, match="issued to"):
        sns.signing_key(CERT_URL)
    assert not sns.CERTIFICATES


def test_a_topic_we_did_not_configure_is_refused(client: FlaskClient, hooks: Keys) -> None:
    other = "arn:aws:sns:eu-west-1:999999999999:someone-elses-topic"
    envelope = sns_envelope(hooks, payload("ses-complaint"), TopicArn=other)
    problem_of(send_sns(client, envelope), 401)


def test_a_message_signed_by_another_key_is_refused(client: FlaskClient, hooks: Keys) -> None:
    stranger = Keys(
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        hooks.sendgrid,
        hooks.postmark,
        hooks.mailgun,
        hooks.standard,
    )
    problem_of(send_sns(client, sns_envelope(stranger, payload("ses-complaint"))), 401)


def test_the_certificate_cache_is_bounded(monkeypatch: pytest.MonkeyPatch, keys: Keys) -> None:
    pem = self_signed(keys.sns).public_bytes(serialization.Encoding.PEM)
    fetched: list[str] = []
    monkeypatch.setattr(sns, "fetch_certificate", lambda url: fetched.append(url) or pem)
    monkeypatch.setattr(sns, "CERTIFICATES", type(sns.CERTIFICATES)())
    urls = [f"https://sns.eu-west-{n}.amazonaws.com/SNS-{n}.pem" for n in range(20)]
    for url in [*urls, urls[-1]]:
        sns.signing_key(url)
    assert fetched == urls, "each certificate fetched once"
    assert len(sns.CERTIFICATES) == sns.MAX_CERTIFICATES


def test_a_subscription_is_confirmed_at_amazon_once_verified(
    client: FlaskClient, hooks: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    visited: list[str] = []
    monkeypatch.setattr(sns, "visit_subscribe_url", visited.append)
    message = "You have chosen to subscribe to the topic " + TOPIC
    envelope = sns_envelope(hooks, message, kind="SubscriptionConfirmation")
    response = send_sns(client, envelope)
    assert response.status_code == 200 and response.get_json() == {"status": "subscribed"}
    assert visited == [SUBSCRIBE_URL]
    envelope["Token"] = "forged"
    problem_of(send_sns(client, envelope), 401)
    assert visited == [SUBSCRIBE_URL], "an unverified confirmation visits nothing"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/?Action=ConfirmSubscription",
        "http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://amazonaws.com.evil.example/",
        "https://sns.eu-west-1.amazonaws.com@evil.example/",
    ],
)
def test_a_subscribe_url_outside_amazon_is_never_visited(
    client: FlaskClient, hooks: Keys, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    visited: list[str] = []
    monkeypatch.setattr(sns, "visit_subscribe_url", visited.append)
    envelope = sns_envelope(hooks, "subscribe", kind="SubscriptionConfirmation", SubscribeURL=url)
    problem_of(send_sns(client, envelope), 400)
    assert visited == []


def test_an_unsubscribe_confirmation_needs_nothing(client: FlaskClient, hooks: Keys) -> None:
    envelope = sns_envelope(hooks, "unsubscribed", kind="UnsubscribeConfirmation")
    response = send_sns(client, envelope)
    assert response.status_code == 200 and response.get_json() == {"status": "ignored"}


# --- what is queued ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        ("ses", "ses-delivery"),
        ("postmark", "postmark-auto-responder"),
        ("mailgun", "mailgun-delivered"),
        ("mailgun", "mailgun-failed-retrying"),
    ],
)
def test_events_that_are_no_bounce_are_answered_and_not_queued(
    client: FlaskClient, hooks: Keys, provider: str, name: str
) -> None:
    response = send_signed(client, hooks, provider, payload(name))
    assert response.status_code == 200 and response.get_json() == {"status": "ignored"}
    assert queued(client.application) == 0


@pytest.mark.parametrize(
    ("provider", "data"),
    [
        ("ses", {"notificationType": "Bounce", "bounce": {"feedbackId": "x"}, "mail": {}}),
        ("postmark", {"RecordType": "Bounce", "Type": "HardBounce", "ID": 1}),
        ("sendgrid", {"event": "bounce"}),
        ("mailgun", {"event-data": {"event": "failed", "id": "x", "recipient": "not an address"}}),
        ("generic", {"type": "bounce", "email": "a@example.org"}),
    ],
)
def test_a_signed_but_malformed_payload_is_a_400(
    client: FlaskClient, hooks: Keys, provider: str, data: Any
) -> None:
    problem_of(send_signed(client, hooks, provider, data), 400)


def ses_with_headers(headers: Any) -> dict[str, Any]:
    data = payload("ses-bounce-permanent")
    data["mail"]["headers"] = headers
    return dict(data)


@pytest.mark.parametrize(
    ("provider", "data"),
    [
        ("ses", ses_with_headers(5)),
        ("ses", ses_with_headers(True)),
        ("ses", ses_with_headers({"name": "Message-ID"})),
        ("generic", payload("generic-bounce") | {"bounce_type": []}),
        ("generic", payload("generic-bounce") | {"bounce_type": {"hard": True}}),
    ],
)
def test_a_signed_payload_of_the_wrong_shape_is_a_400_never_a_500(
    client: FlaskClient, hooks: Keys, provider: str, data: Any
) -> None:
    problem_of(send_signed(client, hooks, provider, data), 400)
    assert queued(client.application) == 0


def test_a_reader_that_trips_over_a_shape_is_a_400_never_a_500(
    client: FlaskClient, hooks: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net, for a shape no check foresaw: the sender's fault, not ours."""

    def tripping(data: Any) -> list[Any]:
        return [data["type"]["nested"]]  # a str is not subscriptable by str: TypeError

    monkeypatch.setitem(providers.READERS, "generic", tripping)
    problem = problem_of(send_signed(client, hooks, "generic", payload("generic-bounce")), 400)
    assert (
        problem["detail"]
        == "generic: the payload does not have the shape generic sends (TypeError)"
    )


def test_a_bad_address_is_named_by_its_field_never_quoted(
    client: FlaskClient, hooks: Keys, caplog: LogCaptureFixture
) -> None:
    """The detail is logged and answered: a recipient's address has no place in it."""
    data = payload("generic-bounce") | {"email": "Jan Peeters <jan peeters at private.example>"}
    problem = problem_of(send_signed(client, hooks, "generic", data), 400)
    assert problem["detail"] == "email is not an e-mail address"
    assert "peeters" not in caplog.text.lower()


def test_no_session_cookie_even_when_a_language_is_asked(client: FlaskClient, hooks: Keys) -> None:
    body, headers, content_type = request_for(hooks, "generic", payload(BOUNCES["generic"]))
    response = post(client, "generic", body, headers, content_type, query="?lang=en")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_only_refused_requests_count_against_the_rate_limit(
    app: Flask, client: FlaskClient, hooks: Keys
) -> None:
    app.config["BOUNCE_WEBHOOK_RATE_LIMIT"] = "3 per minute"
    for _ in range(5):
        assert send_signed(client, hooks, "generic", payload(BOUNCES["generic"])).status_code == 200
    for _ in range(3):
        problem_of(post(client, "generic", b"{}"), 401)
    problem_of(send_signed(client, hooks, "generic", payload(BOUNCES["generic"])), 429)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("BOUNCE_WEBHOOK_SENDGRID_KEY", "bm90IGEga2V5"),
        ("BOUNCE_WEBHOOK_SENDGRID_KEY", "%%%"),
        ("BOUNCE_WEBHOOK_SECRET", "no-prefix"),
        ("BOUNCE_WEBHOOK_SECRET", "whsec_%%%"),
        ("BOUNCE_WEBHOOK_SECRET", "whsec_c2hvcnQ="),
    ],
)
def test_a_secret_that_can_never_verify_stops_the_app_at_start(
    tmp_path: Path, setting: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=setting):
        make_app(
            f"sqlite:///{tmp_path / 'db.sqlite3'}", 25, tmp_path / "instance", **{setting: value}
        )


def test_the_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    from consentapp.config import load_config

    config = load_config(
        "testing",
        {
            "CONSENTAPP_INSTANCE": str(tmp_path),
            "BOUNCE_WEBHOOK_SES_TOPIC_ARNS": f"{TOPIC}, arn:aws:sns:us-east-1:1:other",
            "BOUNCE_WEBHOOK_TOLERANCE_SECONDS": "120",
            "BOUNCE_WEBHOOK_MAILGUN_KEY": "mailgun-signing",
        },
    )
    assert config.BOUNCE_WEBHOOK_SES_TOPIC_ARNS == [TOPIC, "arn:aws:sns:us-east-1:1:other"]
    assert config.BOUNCE_WEBHOOK_TOLERANCE_SECONDS == 120
    assert config.BOUNCE_WEBHOOK_MAILGUN_KEY == "mailgun-signing"
    assert config.BOUNCE_WEBHOOK_SECRET is None and config.BOUNCE_WEBHOOK_POSTMARK_SECRET is None


# --- reading each provider's payloads ----------------------------------------------------


def reports(provider: str, name: str) -> list[Any]:
    return provider_reports(provider, (DATA / f"{name}.json").read_bytes())


def test_ses_permanent_bounce() -> None:
    [report] = reports("ses", "ses-bounce-permanent")
    assert report.report_id == "ses:0102018c2f6a9c3e-5b0e2c3d-1f7a-4c55-9d7e-3c8b2f1a6e90-000000"
    assert report.recipients == (
        FailedRecipient(
            "gone.reader@example.be",
            BounceKind.HARD,
            "5.1.1",
            "550 5.1.1 <gone.reader@example.be>: Recipient address rejected: User unknown in "
            "virtual mailbox table",
        ),
    )
    assert report.original_message_id == "170134.4711.nieuws@crm.example"
    assert report.return_paths == ("b+4711.k3xq9a@bounces.crm.example",)
    assert report.feedback_type is None


def test_ses_transient_bounce_inside_an_sns_envelope(keys: Keys) -> None:
    envelope = sns_envelope(keys, payload("ses-bounce-transient"))
    [report] = provider_reports("ses", json.dumps(envelope).encode())
    assert [(r.address, r.kind, r.status) for r in report.recipients] == [
        ("full.box@example.nl", BounceKind.SOFT, "5.2.2"),
        ("second@example.nl", BounceKind.SOFT, "4.2.2"),
    ]
    assert report.original_message_id == "170135.4712.nieuws@crm.example"
    assert report.return_paths == ("privacy@crm.example",)


def test_ses_complaint() -> None:
    [report] = reports("ses", "ses-complaint")
    assert report.report_id == "ses:0102018c2f8d0e55-a3b2c1d0-e9f8-4a7b-8c6d-5e4f3a2b1c0d-000000"
    assert [(r.address, r.kind) for r in report.recipients] == [
        ("annoyed@example.com", BounceKind.COMPLAINT)
    ]
    assert report.feedback_type == "abuse"
    assert report.original_recipient == "annoyed@example.com"
    assert report.original_message_id == "170136.4713.nieuws@crm.example"


@pytest.mark.parametrize("kind", ["Delivery", "Send", "Open", "Click", "DeliveryDelay", "Reject"])
def test_ses_events_that_are_no_bounce(kind: str) -> None:
    event = payload("ses-delivery") | {"notificationType": kind}
    assert provider_reports("ses", json.dumps(event).encode()) == []


def test_postmark_hard_soft_and_complaint() -> None:
    [hard] = reports("postmark", "postmark-hard-bounce")
    assert hard.report_id == "postmark:4323372036854775807"
    assert hard.recipients == (
        FailedRecipient(
            "nobody.here@example.org",
            BounceKind.HARD,
            "5.1.1",
            "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        ),
    )
    [soft] = reports("postmark", "postmark-soft-bounce")
    assert soft.recipients[0].kind is BounceKind.SOFT
    assert soft.recipients[0].diagnostic == "Unable to temporarily deliver this email."
    [spam] = reports("postmark", "postmark-spam-complaint")
    assert (spam.recipients[0].address, spam.recipients[0].kind) == (
        "marked.spam@example.com",
        BounceKind.COMPLAINT,
    )
    assert spam.feedback_type == "abuse" and spam.report_id == "postmark:42"
    assert reports("postmark", "postmark-auto-responder") == []


def test_sendgrid_events() -> None:
    found = reports("sendgrid", "sendgrid-events")
    assert [(r.report_id, r.recipients[0].address, r.recipients[0].kind) for r in found] == [
        ("sendgrid:6g4ZI7SA-xmRDv57GoPIPw==", "unknown.user@example.com", BounceKind.HARD),
        ("sendgrid:Bsn2hgK2ve4Wq53pfCq8Sg==", "blocked@example.com", BounceKind.SOFT),
        ("sendgrid:zmzJhfJgAfUSOW80yEbPyw==", "bounced.before@example.com", BounceKind.HARD),
        ("sendgrid:37nvH5QBz858KGVYCM4uOA==", "spam.clicker@example.com", BounceKind.COMPLAINT),
    ]
    assert found[0].original_message_id == "170137.4716.nieuws@crm.example"
    assert found[0].recipients[0].status == "5.1.1"
    assert found[1].recipients[0].diagnostic is not None
    assert "blocklist" in found[1].recipients[0].diagnostic


def test_mailgun_failures_and_complaint() -> None:
    [hard] = reports("mailgun", "mailgun-failed-permanent")
    assert hard.report_id == "mailgun:G9Bn5sl1TC6nu79C8C0bwg"
    assert hard.recipients == (
        FailedRecipient(
            "alice@example.net",
            BounceKind.HARD,
            "5.1.1",
            "550 550 5.1.1 The email account that you tried to reach does not exist.",
        ),
    )
    assert hard.original_message_id == "170138.4720.nieuws@crm.example"
    assert hard.return_paths == ("b+4720.m4n5b6@bounces.crm.example",)
    [soft] = reports("mailgun", "mailgun-failed-temporary")
    assert (soft.recipients[0].kind, soft.recipients[0].status) == (BounceKind.SOFT, "4.2.2")
    assert reports("mailgun", "mailgun-failed-retrying") == [], "Mailgun still retries"
    [complaint] = reports("mailgun", "mailgun-complained")
    assert complaint.recipients[0].kind is BounceKind.COMPLAINT
    assert complaint.recipients[0].address == "carol@example.net"
    assert reports("mailgun", "mailgun-delivered") == []


def test_generic_single_and_batch() -> None:
    [single] = reports("generic", "generic-bounce")
    assert single.report_id == "generic:relay-7f3a2c"
    assert single.recipients == (
        FailedRecipient(
            "erin@example.org",
            BounceKind.HARD,
            "5.1.1",
            "550 5.1.1 <erin@example.org>: user unknown",
        ),
    )
    assert single.original_message_id == "170139.4724.nieuws@crm.example"
    full, complaint = reports("generic", "generic-batch")
    assert full.recipients[0].kind is BounceKind.SOFT
    assert complaint.recipients[0].kind is BounceKind.COMPLAINT
    assert complaint.report_id == "generic:relay-7f3a2e"


def test_the_same_event_twice_gives_the_same_report_id() -> None:
    first = reports("ses", "ses-complaint")
    assert first == reports("ses", "ses-complaint")


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("ses", b'{"Type": "Notification", "Message": "not json"}'),
        ("ses", b'{"Type": "Notification", "Message": "[1, 2]"}'),
        ("ses", b'{"notificationType": "Complaint", "complaint": {"feedbackId": "f"}}'),
        ("ses", b'{"notificationType": "Bounce", "bounce": "text"}'),
        ("postmark", b"[]"),
        ("postmark", b'{"RecordType": "Bounce", "Type": "HardBounce", "ID": 1, "Email": 5}'),
        ("sendgrid", b'{"event": "bounce"}'),
        ("sendgrid", b'[{"event": "bounce", "email": "a@b.example"}]'),
        ("sendgrid", b"[1]"),
        ("mailgun", b'{"event-data": []}'),
        ("mailgun", b'{"event-data": {"event": "complained", "id": "x"}}'),
        ("generic", b'{"type": "bounce", "id": "1", "email": "a@b.example", "status": "550"}'),
        ("generic", b'{"type": "bounce", "id": "1", "email": "a@b.example", "bounce_type": "x"}'),
        ("generic", b'{"type": "complaint", "id": "1", "email": "two words@b.example"}'),
        ("generic", b'{"type": "bounce", "id": "1", "email": "a@b.example", "bounce_type": []}'),
        ("generic", b"not json"),
        (
            "ses",
            b'{"notificationType": "Complaint", "mail": {"headers": 5}, "complaint": '
            b'{"feedbackId": "f", "complainedRecipients": [{"emailAddress": "a@b.example"}]}}',
        ),
        ("nobody", b"{}"),
    ],
)
def test_a_payload_the_provider_would_not_send_is_malformed(provider: str, body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        provider_reports(provider, body)


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("generic", b'{"type": "bounce", "id": "1", "email": "Jan <jan at home>"}'),
        ("postmark", b'{"RecordType": "Bounce", "Type": "HardBounce", "ID": 1, "Email": "jan"}'),
        ("sendgrid", b'[{"event": "spamreport", "sg_event_id": "x", "email": "jan home"}]'),
    ],
)
def test_a_malformed_address_is_not_quoted_in_the_error(provider: str, body: bytes) -> None:
    with pytest.raises(MalformedEvent) as raised:
        provider_reports(provider, body)
    assert "jan" not in str(raised.value)


def test_the_safety_net_names_the_provider_and_the_kind_of_fault(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for fault in (TypeError, AttributeError, KeyError, ValueError):

        def reader(data: Any, fault: type[Exception] = fault) -> list[Any]:
            raise fault("the secret.person@example.org value")

        monkeypatch.setitem(providers.READERS, "mailgun", reader)
        with pytest.raises(MalformedEvent) as raised:
            provider_reports("mailgun", b"{}")
        assert str(raised.value) == (
            f"mailgun: the payload does not have the shape mailgun sends ({fault.__name__})"
        )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(
        ["Bounce", "Complaint", "Notification", "bounce", "complaint", "failed", "a@b.example"]
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def paths_in(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document, the document itself first."""
    found = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_in(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_in(item, (*here, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(document)
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return changed


REAL_PAYLOADS = sorted(path.stem for path in DATA.glob("*.json"))


@st.composite
def provider_documents(draw: st.DrawFn) -> tuple[str, Any]:
    """A provider and JSON it could be made to send: anything at all, or one of its real
    payloads with one place in it replaced by anything."""
    provider = draw(st.sampled_from(PROVIDERS))
    if draw(st.booleans()):
        return provider, draw(JSON_VALUES)
    real = payload(draw(st.sampled_from([n for n in REAL_PAYLOADS if n.startswith(provider)])))
    document = replaced(real, draw(st.sampled_from(paths_in(real))), draw(JSON_VALUES))
    if provider == "ses" and draw(st.booleans()):
        document = {"Type": "Notification", "Message": json.dumps(document)}
    return provider, document


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(provider_documents())
def test_any_json_gives_reports_or_malformed_never_another_error(
    document: tuple[str, Any],
) -> None:
    provider, data = document
    try:
        found = provider_reports(provider, json.dumps(data).encode())
    except MalformedEvent as exc:
        assert str(exc)
    else:
        assert isinstance(found, list)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_event_types_give_no_report(provider: str) -> None:
    event = {
        "ses": {"notificationType": "Subscription", "mail": {}},
        "postmark": {"RecordType": "Open", "ID": 1},
        "sendgrid": [{"event": "group_unsubscribe", "sg_event_id": "x", "email": "a@b.example"}],
        "mailgun": {"event-data": {"event": "opened", "id": "x"}},
        "generic": {"type": "opened", "id": "x"},
    }[provider]
    assert provider_reports(provider, json.dumps(event).encode()) == []


@pytest.fixture(autouse=True)
def _forget_mailgun_tokens() -> None:
    """Each test starts with a process that has seen no Mailgun token."""
    MAILGUN_TOKENS._expiry.clear()


# --- end to end: a posted report changes the contact ---------------------------------

DOMAIN = BOUNCE_DOMAIN
NL = "nl@example.be"


def newsletter_to(app: Flask, smtp_server: SMTPServer, address: str) -> tuple[str, str, str]:
    """Send a service-news campaign; its public id, and the Message-ID and envelope
    sender of the mail `address` got."""
    campaign = send_campaign(app)
    _, message_id = last_newsletter(app, address)
    [sender] = [e.mail_from for e in smtp_server.handler.envelopes if address in e.rcpt_tos]
    return campaign, message_id, sender


def ses_notification(name: str, address: str, message_id: str, sender: str) -> dict[str, Any]:
    """A real-shaped SES notification about the mail we sent to `address`."""
    data = payload(name)
    event = data.get("bounce") or data["complaint"]
    entries = event.get("bouncedRecipients") or event["complainedRecipients"]
    event["bouncedRecipients" if "bounce" in data else "complainedRecipients"] = [
        entries[0] | {"emailAddress": address}
    ]
    data["mail"]["source"] = sender
    data["mail"]["destination"] = [address]
    data["mail"]["headers"] = [
        {"name": "Return-Path", "value": f"<{sender}>"},
        {"name": "To", "value": address},
        {"name": "Message-ID", "value": message_id},
    ]
    data["mail"]["commonHeaders"]["messageId"] = message_id
    return dict(data)


def state(app: Flask, address: str) -> tuple[str | None, list[tuple[str, str, str | None]]]:
    """The contact's undeliverable reason and its bounces as (kind, source, status)."""
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == address))
        assert contact is not None
        rows = db.session.execute(
            sa.select(Bounce.kind, Bounce.source, Bounce.status)
            .where(Bounce.contact_id == contact.id)
            .order_by(Bounce.id)
        ).all()
        return contact.undeliverable_reason, [(str(k), s, st) for k, s, st in rows]


def test_a_signed_ses_bounce_makes_the_address_undeliverable_once_processed(
    app: Flask, hooks: Keys, audience: None, smtp_server: SMTPServer
) -> None:
    app.config["BOUNCE_DOMAIN"] = DOMAIN
    campaign, message_id, sender = newsletter_to(app, smtp_server, NL)
    assert sender.endswith("@" + DOMAIN), "the mail went out with its VERP address"
    notification = ses_notification("ses-bounce-permanent", NL, message_id, sender)
    body, headers, content_type = request_for(hooks, "ses", notification)
    client = app.test_client()
    response = post(client, "ses", body, headers, content_type)
    assert response.get_json() == {"status": "queued"}
    assert state(app, NL) == (None, []), "the answer comes before any processing"
    with app.app_context():
        assert process_queue() == 1
    assert state(app, NL) == ("hard", [("hard", "ses", "5.1.1")])
    with app.app_context():
        named = db.session.scalars(
            sa.select(Campaign.public_id).join(Bounce, Bounce.campaign_id == Campaign.id)
        ).one()
        assert named == campaign
    assert queued(app) == 0
    assert post(client, "ses", body, headers, content_type).status_code == 200  # SNS retries
    with app.app_context():
        assert process_queue() == 1
    assert state(app, NL) == ("hard", [("hard", "ses", "5.1.1")]), "the same event counts once"


def test_a_signed_ses_complaint_withdraws_every_topic(
    app: Flask, hooks: Keys, audience: None, smtp_server: SMTPServer
) -> None:
    """Without BOUNCE_DOMAIN: matched by the Message-ID and recipient."""
    campaign, message_id, sender = newsletter_to(app, smtp_server, NL)
    notification = ses_notification("ses-complaint", NL, message_id, sender)
    assert send_signed(app.test_client(), hooks, "ses", notification).status_code == 200
    with app.app_context():
        assert process_queue() == 1
    assert state(app, NL) == ("complaint", [("complaint", "ses", None)])
    assert ("withdrawn", "complaint", "service-news") in ledger(app)
    with app.app_context():
        row = db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.channel == "complaint")
        ).one()
        assert row.details == {"report": "ses", "campaign": campaign}


def test_a_signed_event_naming_a_forged_verp_address_changes_nothing(
    app: Flask, hooks: Keys, audience: None, smtp_server: SMTPServer
) -> None:
    app.config["BOUNCE_DOMAIN"] = DOMAIN
    _, message_id, sender = newsletter_to(app, smtp_server, NL)
    local, _, domain = sender.partition("@")
    forged = f"{local[:-1]}{'x' if local[-1] != 'x' else 'y'}@{domain}"
    notification = ses_notification("ses-bounce-permanent", NL, message_id, forged)
    assert send_signed(app.test_client(), hooks, "ses", notification).status_code == 200
    with app.app_context():
        process_queue()
    assert state(app, NL) == (None, [])


@pytest.mark.parametrize("provider", ["postmark", "sendgrid", "mailgun", "generic"])
def test_each_providers_bounce_reaches_the_contact(
    app: Flask, hooks: Keys, audience: None, provider: str
) -> None:
    """Matched by the recipient alone: these providers send with their own envelope."""
    data = json.loads(json.dumps(payload(BOUNCES[provider])).replace("@example.", "@x.example."))
    address = {
        "postmark": "nobody.here@x.example.org",
        "sendgrid": "unknown.user@x.example.com",
        "mailgun": "alice@x.example.net",
        "generic": "erin@x.example.org",
    }[provider]
    text = json.dumps(data).replace(address, NL)
    assert send_signed(app.test_client(), hooks, provider, json.loads(text)).status_code == 200
    with app.app_context():
        assert process_queue() == 1
    reason, found = state(app, NL)
    assert (reason, [(kind, source) for kind, source, _ in found]) == ("hard", [("hard", provider)])


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind"),
    [
        ("5.1.1", None, BounceKind.HARD),
        ("4.4.1", "connection timed out", BounceKind.SOFT),
        ("5.2.2", "mailbox full", BounceKind.SOFT),
        (None, "550 No such user here", BounceKind.HARD),
        (None, None, BounceKind.SOFT),
    ],
)
def test_a_generic_bounce_without_bounce_type_is_classified_as_reports_are(
    status: str | None, diagnostic: str | None, kind: BounceKind
) -> None:
    """A guess never makes anyone undeliverable: without evidence it is soft."""
    event = {"type": "bounce", "id": "e1", "email": "a@b.example"}
    event |= {"status": status} if status else {}
    event |= {"diagnostic": diagnostic} if diagnostic else {}
    [found] = provider_reports("generic", json.dumps(event).encode())
    assert found.recipients[0].kind is kind
