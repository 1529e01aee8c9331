"""A DKIM key or setting that could not sign stops the app at start with a message that
names the setting and the file, instead of failing every mail later."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import Flask

from consentapp import create_app
from consentapp.config import ConfigError, TestingConfig
from consentapp.extensions import db

PEM = serialization.Encoding.PEM
NO_PASSWORD = serialization.NoEncryption()


def rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, NO_PASSWORD)


def ed25519_pem() -> bytes:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_PASSWORD)


def start(tmp_path: Path, **environ: str) -> Flask:
    """Build the app with these settings, on an SQLite file."""
    base = {
        "CONSENTAPP_INSTANCE": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    app = create_app(TestingConfig(base | environ))
    with app.app_context():
        db.engine.dispose()
    return app


def rsa_settings(tmp_path: Path, content: bytes | None = None) -> dict[str, str]:
    path = tmp_path / "rsa.pem"
    path.write_bytes(rsa_pem() if content is None else content)
    return {"DKIM_DOMAIN": "crm.example", "DKIM_SELECTOR": "news", "DKIM_KEY_PATH": str(path)}


def ed25519_settings(tmp_path: Path, content: bytes) -> dict[str, str]:
    path = tmp_path / "ed25519.pem"
    path.write_bytes(content)
    return {"DKIM_ED25519_SELECTOR": "news-ed", "DKIM_ED25519_KEY_PATH": str(path)}


def encrypted_rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )


def ec_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_PASSWORD)


def public_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"-----BEGIN NOTHING-----\nbm90IGEga2V5\n-----END NOTHING-----\n", "not a PEM RSA"),
        (public_pem(), "not a PEM RSA private key"),
        (ed25519_pem(), "not an RSA private key (it holds Ed25519)"),
        (ec_pem(), "not an RSA private key (it holds EC)"),
        (encrypted_rsa_pem(), "is encrypted"),
    ],
    ids=["garbage", "public-key", "ed25519-key", "ec-key", "encrypted"],
)
def test_an_rsa_key_file_that_cannot_sign_stops_the_start(
    tmp_path: Path, content: bytes, message: str
) -> None:
    settings = rsa_settings(tmp_path, content)
    with pytest.raises(ConfigError, match=r"^DKIM_KEY_PATH .*rsa\.pem ") as error:
        start(tmp_path, **settings)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"bm90IGEga2V5\n", "not a PEM Ed25519 private key"),
        (rsa_pem(), "not an Ed25519 private key (it holds RSA)"),
    ],
    ids=["garbage", "rsa-key"],
)
def test_an_ed25519_key_file_that_cannot_sign_stops_the_start(
    tmp_path: Path, content: bytes, message: str
) -> None:
    settings = rsa_settings(tmp_path) | ed25519_settings(tmp_path, content)
    with pytest.raises(ConfigError, match=r"^DKIM_ED25519_KEY_PATH .*ed25519\.pem ") as error:
        start(tmp_path, **settings)
    assert message in str(error.value)


@pytest.mark.parametrize("missing", ["absent.pem", "."], ids=["absent", "a-directory"])
def test_a_key_file_that_cannot_be_read_stops_the_start(tmp_path: Path, missing: str) -> None:
    settings = rsa_settings(tmp_path) | {"DKIM_KEY_PATH": str(tmp_path / missing)}
    with pytest.raises(ConfigError, match=r"^DKIM_KEY_PATH .* cannot be read"):
        start(tmp_path, **settings)


def test_settings_that_sign_halfway_stop_the_start(tmp_path: Path) -> None:
    rsa_only = rsa_settings(tmp_path)
    ed = ed25519_settings(tmp_path, ed25519_pem())
    with pytest.raises(ConfigError, match="DKIM_DOMAIN, DKIM_SELECTOR and DKIM_KEY_PATH go"):
        start(tmp_path, DKIM_DOMAIN="crm.example")
    with pytest.raises(ConfigError, match="set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_KEY_PATH too"):
        start(tmp_path, **ed)
    with pytest.raises(ConfigError, match="DKIM_ED25519_SELECTOR and DKIM_ED25519_KEY_PATH go"):
        start(tmp_path, **rsa_only, DKIM_ED25519_KEY_PATH=ed["DKIM_ED25519_KEY_PATH"])


def test_good_keys_start(tmp_path: Path) -> None:
    settings = rsa_settings(tmp_path) | ed25519_settings(tmp_path, ed25519_pem())
    app = start(tmp_path, **settings)
    assert app.config["DKIM_ED25519_SELECTOR"] == "news-ed"
