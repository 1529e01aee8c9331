"""DKIM signatures: dkimpy's canonicalisation, header selection, body hash and header
layout, with the RSA (and Ed25519, RFC 8463) arithmetic done by OpenSSL through
`cryptography`.

dkimpy computes RSA in Python, several milliseconds a message at 2048 bits; OpenSSL
takes a fraction of that. The keys are read and checked once, at start-up
(`check_keys`), and kept for as long as their files do not change.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import CanonicalizationPolicy

from consentapp.config import ConfigError

# What dkim.sign signs with by default: relaxed headers, the body as it is.
CANONICALIZE = b"relaxed/simple"
HEADER_NAME = b"DKIM-Signature"
MIN_RSA_BITS = 1024  # verifiers (dkimpy's default minkey among them) refuse shorter keys
RSA_SETTINGS = ("DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_KEY_PATH")
ED25519_SETTINGS = ("DKIM_ED25519_SELECTOR", "DKIM_ED25519_KEY_PATH")
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class SigningKey:
    """One key and the selector its public half is published under."""

    selector: bytes
    private: PrivateKey

    @property
    def algorithm(self) -> bytes:
        if isinstance(self.private, rsa.RSAPrivateKey):
            return b"rsa-sha256"
        return b"ed25519-sha256"

    def sign(self, digest: bytes) -> bytes:
        """The signature over the SHA-256 `digest` of the signed header fields."""
        if isinstance(self.private, rsa.RSAPrivateKey):
            return self.private.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        return self.private.sign(digest)  # RFC 8463: Ed25519 over the SHA-256 hash

    def dns_record(self) -> str:
        """The TXT record to publish at <selector>._domainkey.<domain>."""
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            der = public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"


@dataclass(frozen=True)
class Signer:
    """Signs for one domain with each of its keys (Ed25519 first, then RSA)."""

    domain: bytes
    keys: tuple[SigningKey, ...]

    def sign(
        self, message: bytes, include_headers: Iterable[str], timestamp: int | None = None
    ) -> bytes:
        """The DKIM-Signature header fields to put above `message`, one per key, each
        ending in CRLF; `timestamp` is the t= tag (default now)."""
        headers, body = dkim.rfc822_parse(message)
        policy = CanonicalizationPolicy.from_c_value(CANONICALIZE)
        canonical_headers = policy.canonicalize_headers(headers)
        body_hash = base64.b64encode(hashlib.sha256(policy.canonicalize_body(body)).digest())
        signed = tuple(name.lower().encode() for name in include_headers)
        stamp = str(int(time.time()) if timestamp is None else timestamp).encode()
        return b"".join(
            _signature(key, self.domain, policy, canonical_headers, signed, body_hash, stamp)
            for key in self.keys
        )

    def dns_records(self) -> list[tuple[str, str]]:
        """(name, TXT value) for each key's public half."""
        domain = self.domain.decode()
        return [
            (f"{key.selector.decode()}._domainkey.{domain}.", key.dns_record()) for key in self.keys
        ]


def _signature(
    key: SigningKey,
    domain: bytes,
    policy: Any,
    headers: list[tuple[bytes, bytes]],
    include_headers: tuple[bytes, ...],
    body_hash: bytes,
    stamp: bytes,
) -> bytes:
    """What dkim.DKIM.sign and its gen_header write, with the signature from `key`."""
    fields = [
        (b"v", b"1"),
        (b"a", key.algorithm),
        (b"c", policy.to_c_value()),
        (b"d", domain),
        (b"i", b"@" + domain),
        (b"q", b"dns/txt"),
        (b"s", key.selector),
        (b"t", stamp),
        (b"h", b" : ".join(include_headers)),
        (b"bh", body_hash),
        (b"b", b"0" * 60),  # dkimpy's placeholder: it folds b= onto a line of its own
    ]
    unsigned = dkim.fold(b"; ".join(b"=".join(f) for f in fields), namelen=len(HEADER_NAME))
    unsigned = dkim.RE_BTAG.sub(b"\\1", unsigned)  # b= empty, as it is hashed
    hasher = hashlib.sha256()
    dkim.hash_headers(
        hasher, policy, headers, include_headers, (HEADER_NAME, b" " + unsigned), dict(fields)
    )
    fields[-1] = (b"b", base64.b64encode(key.sign(hasher.digest())))
    value: bytes = dkim.fold(b"; ".join(b"=".join(f) for f in fields) + b"\r\n", len(HEADER_NAME))
    return HEADER_NAME + b": " + value


def signer_for(config: Mapping[str, Any]) -> Signer | None:
    """The signer the settings ask for, or None when DKIM is not configured; raises
    ConfigError for incomplete settings or a key file that cannot be used."""
    settings = tuple(config.get(name) or None for name in RSA_SETTINGS + ED25519_SETTINGS)
    if not any(settings):
        return None
    if any(settings[3:]) and not any(settings[:3]):
        raise ConfigError(
            "DKIM_ED25519_SELECTOR and DKIM_ED25519_KEY_PATH sign next to RSA, for the "
            "receivers that know only RSA: set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_KEY_PATH too"
        )
    if not all(settings[:3]):
        raise ConfigError(
            "DKIM_DOMAIN, DKIM_SELECTOR and DKIM_KEY_PATH go together: set all three or none"
        )
    if any(settings[3:]) and not all(settings[3:]):
        raise ConfigError("DKIM_ED25519_SELECTOR and DKIM_ED25519_KEY_PATH go together")
    files = {"DKIM_KEY_PATH": settings[2], "DKIM_ED25519_KEY_PATH": settings[4]}
    return _load(settings, tuple(_stamp(name, path) for name, path in files.items() if path))


def check_keys(config: Mapping[str, Any]) -> None:
    """At start: refuse DKIM settings that would fail at the first mail."""
    signer_for(config)


def _stamp(setting: str, path: str) -> tuple[int, int]:
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"{setting} {path} cannot be read: {exc.strerror}") from exc
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=4)
def _load(settings: tuple[Any, ...], stamps: tuple[tuple[int, int], ...]) -> Signer:
    """Read and check the keys; kept until a setting or a key file changes (`stamps`)."""
    domain, selector, rsa_path, ed_selector, ed_path = settings
    keys = [SigningKey(selector.encode(), load_key("DKIM_KEY_PATH", rsa_path, rsa.RSAPrivateKey))]
    if ed_path:
        key = load_key("DKIM_ED25519_KEY_PATH", ed_path, ed25519.Ed25519PrivateKey)
        keys.insert(0, SigningKey(ed_selector.encode(), key))
    return Signer(domain.encode(), tuple(keys))


def load_key(setting: str, path: str, kind: type[PrivateKey]) -> PrivateKey:
    """The private key in the PEM file `path` (for Ed25519 also the base64 of the raw
    32-byte key that dkimpy's dknewkey writes); ConfigError, naming `setting`, if not."""
    wanted = "RSA" if kind is rsa.RSAPrivateKey else "Ed25519"
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise ConfigError(f"{setting} {path} cannot be read: {exc.strerror}") from exc
    try:
        key: object = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise ConfigError(f"{setting} {path} is encrypted: store the key unencrypted") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        key = _raw_ed25519(data) if kind is ed25519.Ed25519PrivateKey else None
        if key is None:
            raise ConfigError(f"{setting} {path} is not a PEM {wanted} private key") from exc
    if not isinstance(key, kind):
        found = type(key).__name__.replace("PrivateKey", "")
        raise ConfigError(f"{setting} {path} is not an {wanted} private key (it holds {found})")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise ConfigError(
            f"{setting} {path} is a {key.key_size}-bit RSA key: verifiers refuse keys "
            f"below {MIN_RSA_BITS} bits; use 2048"
        )
    return key


def _raw_ed25519(data: bytes) -> ed25519.Ed25519PrivateKey | None:
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw) if len(raw) == 32 else None
