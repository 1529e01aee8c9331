"""The keyed digests are stored in databases and carried by links already mailed: for a
fixed key they must stay bit-for-bit what they have always been, and a rotated key must
still match what the older key made."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from consentapp.keyring import (
    address_hash,
    address_hmac,
    address_hmacs,
    address_matches,
    fingerprint,
    keys,
    serializer_keys,
)
from consentapp.tokens import Purpose, read_token

# Both too short to be accepted in production: no one can deploy them.
KEY = "pinned-test-key"
OLDER = "pinned-older-key"
ELS = "Els.Peeters@Example.be"
JAN = "jan@example.be"

# Computed with the hashing code as it was before the keys got one home.
PINNED = {
    (ELS, KEY): "26171fc3f0fb49ee5a3d24afb3f044c8fe6b2134857418be8e480b402f8a0541",
    (ELS, OLDER): "da2d17d2edd0fcd831e0b46651d6323060303a6fbc262ffb0f45f9f127eedacf",
    (JAN, KEY): "f1ff74ca132d270bf72d37d5177ac78b5e7a89aab803cea097e32ca644202da6",
    (JAN, OLDER): "aa9b5675c690641a59e12fa178008189077749ae02917aaf6979ea0310d38000",
}
# A link hash is not stripped: surrounding spaces give another hash.
SPACED = "  els.peeters@example.be "
SPACED_LINK_HASHES = {KEY: "7498fbe9397766ceb82739e9", OLDER: "3a69386e85c01eb6ec495383"}
# An unsubscribe link signed with OLDER for public id "pinned-public-id".
OLD_LINK = (
    "eyJjIjoicGlubmVkLXB1YmxpYy1pZCIsImgiOiJkYTJkMTdkMmVkZDBmY2Q4MzFlMGI0NjYifQ"
    ".aw9e9Q.FUeSOQeux79dA2SotlvljEW_dfY"
)


@pytest.fixture
def rotated() -> Iterator[Flask]:
    """KEY signs now; OLDER still verifies."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=KEY, SECRET_KEY_FALLBACKS=[OLDER])
    with app.app_context():
        yield app


@pytest.mark.parametrize(("email", "key"), list(PINNED))
def test_stored_address_digest_is_pinned(email: str, key: str) -> None:
    assert address_hmac(email, key) == PINNED[email, key]
    assert address_hmac(f" {email.upper()}\n", key) == PINNED[email, key]


@pytest.mark.parametrize(("email", "key"), list(PINNED))
def test_link_address_hash_is_pinned(email: str, key: str) -> None:
    assert address_hash(email, key) == PINNED[email, key][:24]


@pytest.mark.parametrize("key", [KEY, OLDER])
def test_link_address_hash_keeps_spaces(key: str) -> None:
    assert address_hash(SPACED, key) == SPACED_LINK_HASHES[key]


def test_the_signing_key_digests_by_default(rotated: Flask) -> None:
    email = JAN
    assert address_hmac(email) == PINNED[email, KEY]
    assert address_hash(email) == PINNED[email, KEY][:24]


def test_stored_digests_match_under_every_configured_key(rotated: Flask) -> None:
    email = ELS
    assert address_hmacs(email) == [PINNED[email, KEY], PINNED[email, OLDER]]


def test_link_hash_of_an_older_key_still_matches(rotated: Flask) -> None:
    email = JAN
    assert address_matches(email, PINNED[email, OLDER][:24])
    assert address_matches(email, PINNED[email, KEY][:24])
    assert not address_matches("piet@example.be", PINNED[email, OLDER][:24])
    assert not address_matches(None, PINNED[email, KEY][:24])


def test_key_order(rotated: Flask) -> None:
    assert keys() == [KEY, OLDER]
    assert serializer_keys() == [OLDER, KEY]


def test_a_link_signed_with_an_older_key_still_verifies(rotated: Flask) -> None:
    token = read_token(Purpose.UNSUBSCRIBE, OLD_LINK)
    assert token.public_id == "pinned-public-id"
    assert address_matches("els.peeters@example.be", str(token.payload["h"]))


def test_search_fingerprint_is_pinned(rotated: Flask) -> None:
    assert fingerprint("  ELS  peeters ") == "d9316c56bdd8eb95a19c6b724d93e5e7"
    assert fingerprint("els peeters") == fingerprint("  ELS  peeters ")
