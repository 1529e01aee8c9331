"""DKIM signatures as receivers check them: dkimpy's verifier, fed the public keys the
DNS would publish, accepts the RSA and the Ed25519 signature of each mail, and refuses
both once the body or the unsubscribe headers are changed on the way."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.mail.dkim_sign import signer_for
from consentapp.mail.mime import compose
from consentapp.mail.transport import DKIM_HEADERS, Composer
from tests.builders import make_campaign
from tests.flows import start, subscribe
from tests.helpers import deliver
from tests.services import SMTPServer

DOMAIN = "crm.example"
UNSUBSCRIBE = "<https://crm.example/u/8f3a9c>, <mailto:unsubscribe@crm.example?subject=8f3a9c>"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    private_format = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(
        serialization.Encoding.PEM, private_format, serialization.NoEncryption()
    )


def settings(tmp_path: Path, rsa_key: Any, ed_key: Any = None) -> dict[str, Any]:
    """The DKIM settings for these keys, written to files as an operator would."""
    (tmp_path / "rsa.pem").write_bytes(pem(rsa_key))
    found: dict[str, Any] = {
        "DKIM_DOMAIN": DOMAIN,
        "DKIM_SELECTOR": "news",
        "DKIM_KEY_PATH": str(tmp_path / "rsa.pem"),
        "DKIM_ED25519_SELECTOR": None,
        "DKIM_ED25519_KEY_PATH": None,
    }
    if ed_key is not None:
        (tmp_path / "ed25519.pem").write_bytes(pem(ed_key))
        found.update(
            DKIM_ED25519_SELECTOR="news-ed", DKIM_ED25519_KEY_PATH=str(tmp_path / "ed25519.pem")
        )
    return found


def dns(rsa_key: Any, ed_key: Any = None) -> Any:
    """What the DNS answers for the selectors, built from the keys themselves."""
    der = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    records = {b"news._domainkey.crm.example.": b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)}
    if ed_key is not None:
        raw = ed_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        records[b"news-ed._domainkey.crm.example."] = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(
            raw
        )

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    return lookup


def verifies(raw: bytes, lookup: Any, idx: int = 0) -> bool:
    """dkimpy's verdict on the signature at `idx` (0: the topmost); a broken one is False,
    as dkim.verify has it."""
    try:
        return bool(dkim.DKIM(raw).verify(idx=idx, dnsfunc=lookup))
    except dkim.DKIMException:
        return False


def signature_tags(raw: bytes, idx: int) -> dict[bytes, bytes]:
    headers, _ = dkim.rfc822_parse(raw)
    values = [value for name, value in headers if name.lower() == b"dkim-signature"]
    return {k: re.sub(rb"\s+", b"", v) for k, v in dkim.util.parse_tag_value(values[idx]).items()}


def message() -> bytes:
    return compose(
        sender="Bedrijf Één <news@crm.example>",
        to="reader@example.be",
        subject="Onderhoud zaterdag: één uur stilte " * 3,
        text="Beste lezer,\n\nZaterdag is er onderhoud.  \n.\nFrom the team\n" * 30,
        html="<p>Zaterdag is er <strong>onderhoud</strong>: één uur.</p>\n" * 20,
        message_id="<8f3a9c@crm.example>",
        headers={
            "List-Id": "Service news <service-news.crm.example>",
            "List-Unsubscribe": UNSUBSCRIBE,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def test_the_rsa_signature_is_the_one_dkimpy_writes_byte_for_byte(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    raw = message()
    expected = dkim.sign(
        raw,
        b"news",
        DOMAIN.encode(),
        pem(rsa_key),
        include_headers=[h.encode() for h in DKIM_HEADERS],
    )
    stamp = re.search(rb"\bt=(\d+)", expected)
    assert stamp is not None
    signer = signer_for(settings(tmp_path, rsa_key))
    assert signer is not None
    assert signer.sign(raw, DKIM_HEADERS, timestamp=int(stamp.group(1))) == expected


def test_a_plain_mail_carries_an_rsa_signature_that_verifies(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, rsa_key: Any, tmp_path: Path
) -> None:
    app.config.update(settings(tmp_path, rsa_key))
    subscribe(client, "lies@example.be")
    deliver(app)
    [raw] = smtp_server.raw_to("lies@example.be")
    assert raw.count(b"DKIM-Signature:") == 1
    tags = signature_tags(raw, 0)
    assert (tags[b"a"], tags[b"c"], tags[b"d"]) == (
        b"rsa-sha256",
        b"relaxed/simple",
        b"crm.example",
    )
    assert verifies(raw, dns(rsa_key))
    assert not verifies(raw + b"P.S. Reply with your password.\r\n", dns(rsa_key))


def test_dual_signed_mail_verifies_with_either_key(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    rsa_key: Any,
    ed_key: Any,
    tmp_path: Path,
) -> None:
    app.config.update(settings(tmp_path, rsa_key, ed_key))
    subscribe(client, "lies@example.be")
    deliver(app)
    [raw] = smtp_server.raw_to("lies@example.be")
    assert [signature_tags(raw, i)[b"a"] for i in (0, 1)] == [b"ed25519-sha256", b"rsa-sha256"]
    assert verifies(raw, dns(rsa_key, ed_key), idx=0)
    assert verifies(raw, dns(rsa_key, ed_key), idx=1)
    # Each signature stands on its own key: a wrong Ed25519 key fails only the first.
    other = dns(rsa_key, ed25519.Ed25519PrivateKey.generate())
    assert not verifies(raw, other, idx=0)
    assert verifies(raw, other, idx=1)


@pytest.mark.parametrize("dual", [False, True], ids=["rsa", "ed25519-and-rsa"])
def test_campaign_mail_is_signed_over_the_unsubscribe_headers(
    app: Flask,
    smtp_server: SMTPServer,
    audience: None,
    rsa_key: Any,
    ed_key: Any,
    tmp_path: Path,
    dual: bool,
) -> None:
    app.config.update(settings(tmp_path, rsa_key, ed_key if dual else None))
    start(app, make_campaign(app))
    deliver(app)
    [raw] = [data for data in smtp_server.raw_to("nl@example.be") if b"List-Id" in data]
    lookup = dns(rsa_key, ed_key if dual else None)
    signatures = range(2 if dual else 1)
    for idx in signatures:
        signed = signature_tags(raw, idx)[b"h"].split(b":")
        assert {b"list-unsubscribe", b"list-unsubscribe-post", b"list-id"} <= set(signed)
        assert verifies(raw, lookup, idx)

    moved = re.sub(rb"(List-Unsubscribe: <https?://)[^/]+", rb"\1evil.example", raw, count=1)
    assert moved != raw
    dropped = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"X-Gone: 1")
    assert dropped != raw
    edited = raw + b"P.S. Reply with your password.\r\n"
    for tampered in (moved, dropped, edited):
        for idx in signatures:
            assert not verifies(tampered, lookup, idx)


def test_an_ed25519_key_as_dknewkey_writes_it_signs_too(
    rsa_key: Any, ed_key: ed25519.Ed25519PrivateKey, tmp_path: Path
) -> None:
    config = settings(tmp_path, rsa_key, ed_key)
    seed = ed_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    Path(config["DKIM_ED25519_KEY_PATH"]).write_bytes(base64.b64encode(seed) + b"\n")
    signer = signer_for(config)
    assert signer is not None
    raw = message()
    signed = signer.sign(raw, DKIM_HEADERS) + raw
    assert verifies(signed, dns(rsa_key, ed_key), idx=0)
    assert verifies(signed, dns(rsa_key, ed_key), idx=1)


def test_the_keys_are_read_once_and_again_when_their_file_changes(
    rsa_key: Any, tmp_path: Path
) -> None:
    config = {"MAIL_DEFAULT_SENDER": "news@crm.example", "BOUNCE_DOMAIN": None}
    config.update(settings(tmp_path, rsa_key))
    first = Composer(config).dkim
    assert first is not None and Composer(config).dkim is first

    key_path = Path(config["DKIM_KEY_PATH"])
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stat = key_path.stat()
    key_path.write_bytes(pem(new_key))
    os.utime(key_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    rotated = Composer(config).dkim
    assert rotated is not None and rotated is not first
    raw = message()
    assert verifies(rotated.sign(raw, DKIM_HEADERS) + raw, dns(new_key))
    assert not verifies(rotated.sign(raw, DKIM_HEADERS) + raw, dns(rsa_key))


def test_the_dns_records_publish_the_public_halves(
    rsa_key: Any, ed_key: Any, tmp_path: Path
) -> None:
    signer = signer_for(settings(tmp_path, rsa_key, ed_key))
    assert signer is not None
    lookup = dns(rsa_key, ed_key)
    assert [(name, value.encode()) for name, value in signer.dns_records()] == [
        ("news-ed._domainkey.crm.example.", lookup(b"news-ed._domainkey.crm.example.")),
        ("news._domainkey.crm.example.", lookup(b"news._domainkey.crm.example.")),
    ]


def test_dkim_record_prints_the_records_to_publish(
    app: Flask, rsa_key: Any, ed_key: Any, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    unset = runner.invoke(args=["dkim-record"])
    assert unset.exit_code != 0 and "DKIM is not configured" in unset.output

    app.config.update(settings(tmp_path, rsa_key, ed_key))
    result = runner.invoke(args=["dkim-record"])
    assert result.exit_code == 0, result.output
    ed_line, rsa_line = result.output.splitlines()
    lookup = dns(rsa_key, ed_key)
    for line, name in [
        (ed_line, "news-ed._domainkey.crm.example."),
        (rsa_line, "news._domainkey.crm.example."),
    ]:
        owner, kind, strings = line.split(maxsplit=2)
        assert (owner, kind) == (name, "TXT")
        # A zone file's quoted strings, each at most 255 characters, joined by receivers.
        parts = re.findall(r'"([^"]*)"', strings)
        assert all(len(part) <= 255 for part in parts)
        assert "".join(parts).encode() == lookup(name.encode())
    assert rsa_line.count('"') == 4  # a 2048-bit key takes two strings
