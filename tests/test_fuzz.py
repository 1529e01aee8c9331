"""Property-based fuzz of every public form, link and page.

Hypothesis sends hostile requests to every route a visitor can reach without a
staff login: text with control characters, lone surrogates (as the invalid UTF-8
bytes a browser cannot send but a script can), right-to-left and zero-width
marks, header-injection attempts, 100 kB values, missing, repeated and unknown
fields, wrong and malformed content types, bad CSRF tokens, and links that are
random, truncated, tampered, signed with another key or made for another purpose.

Every request must hold four promises: no 5xx, no traceback in the page, no
personal-data row written when the input is refused, and the same answer for an
address we know as for one we don't. The sqlite run sends at least
`REQUEST_BUDGET` requests (the last test checks the count); PostgreSQL runs a
tenth of the examples, for the bugs only a strict database shows.

Examples are derandomized, so a red build reproduces bit for bit on a laptop and
fails only because of the change under test. `CONSENTAPP_FUZZ_SEED=random` (or a
number) explores new inputs instead, e.g. in a nightly run; a failure then
prints its `@reproduce_failure` blob.
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from werkzeug.test import TestResponse

from consentapp.extensions import db
from consentapp.keyring import address_hash
from consentapp.models import ApiScope, Contact, DataRequest, Setting
from consentapp.seed import seed_notice, seed_topics
from consentapp.services.register import seed_register
from consentapp.tokens import Purpose, make_token
from tests.builders import make_staff
from tests.conftest import make_app
from tests.helpers import csrf_token, post_form, without_csrf
from tests.services import SMTPServer

pytestmark = pytest.mark.fuzz

REQUEST_BUDGET = 10_000
# CONSENTAPP_FUZZ_SCALE=0.1 runs a tenth of the examples, for a quick look while working.
SCALE = float(os.environ.get("CONSENTAPP_FUZZ_SCALE", "1") or "1")
SENT: Counter[str] = Counter()
COMPLETED: set[str] = set()

KNOWN = "k0000000.person@example.be"
LINKED = "linked.person@example.be"
STAFF = "staff.fuzz@crm.example"
TOPICS = ["product-updates", "service-news", "company-news"]
PERSONAL_TABLES = (
    "contacts",
    "subscriptions",
    "inquiries",
    "consent_events",
    "outbound_emails",
    "data_requests",
    "suppressions",
    "incoming_reports",
    "bounces",
    "repermission_asks",
)
# Rows a refused request may rightly write: wrong passwords that lock a staff account
# mail its owner (a staff member, not the visitor) that it was locked.
PERSONAL_ROWS = {"outbound_emails": " WHERE kind <> 'staff_locked'"}
# What a page must never show: a traceback or the name of an exception that escaped.
LEAKS = re.compile(
    r"Traceback \(most recent call last\)|werkzeug\.exceptions|sqlalchemy\.exc|psycopg"
    r"|jinja2\.exceptions|\b(?:Key|Type|Value|Attribute|Index|Unicode\w*|Integrity|Operational"
    r"|Data|Programming|Internal|Lookup|Runtime|Assertion)Error\b"
)


# --- how many examples ----------------------------------------------------------


def fuzz_settings(backend: str, examples: int) -> Callable[[Any], Any]:
    """Settings for one fuzz test; PostgreSQL runs a tenth of the sqlite examples."""
    chosen = os.environ.get("CONSENTAPP_FUZZ_SEED", "").strip().lower()
    count = examples if backend == "sqlite" else max(10, examples // 10)
    count = max(5, int(count * SCALE))
    apply = settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
        database=None,
        derandomize=not chosen,
        print_blob=True,
    )
    if chosen.isdigit():
        return lambda test: hypothesis_seed(int(chosen))(apply(test))
    return apply  # type: ignore[no-any-return]


# --- hostile text -----------------------------------------------------------------

CONTROL = "".join(chr(c) for c in range(0x20)) + "\x7f"
MARKS = "\u202e\u202d\u202a\u202b\u202c\u200f\u200e\u2066\u2067\u2068\u2069\u061c"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
SURROGATES = "\ud800\udbff\udc00\udfff"
ODD = "\u0000\u0301\u0336\uffff\ufffe\U0001f600\U0010ffff\u2028\u2029\u00e9\u00ff\u0130\u212a"
NASTY = [
    "",
    " ",
    "\r\nBcc: victim@example.com",
    "x\r\nSubject: injected\r\n\r\nbody",
    "%0d%0aBcc:victim@example.com",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }}{% raw %}",
    "' OR 1=1 --",
    "'; DROP TABLE contacts; --",
    '=HYPERLINK("http://evil")',
    "../../../../etc/passwd",
    "%00",
    "\x00",
    "null",
    "None",
    "[]",
    "{}",
    "-1",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "\u202egnp.exe",
    "\ufeff",
    "A" * 255,
    "é" * 300,
]


@cache
def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Short text from the characters that break things, and whole known-bad strings."""
    alphabet = st.sampled_from(
        CONTROL + MARKS + ZERO_WIDTH + SURROGATES + ODD + string.ascii_letters + "@.-_+ <>&\"'%"
    )
    return st.one_of(
        st.text(alphabet=alphabet, max_size=max_size),
        st.text(max_size=max_size),  # any code point, surrogates included
        st.sampled_from(NASTY),
    )


@cache
def huge_text() -> st.SearchStrategy[str]:
    """About 100 kB, built from a short hostile chunk so generating it stays cheap."""
    return st.builds(
        lambda chunk, size: ((chunk or "x") * (size // max(1, len(chunk or "x")) + 1))[:size],
        hostile_text(8),
        st.sampled_from([5_001, 65_536, 100_000, 102_400]),
    )


@cache
def any_text() -> st.SearchStrategy[str]:
    """What goes into a field: mostly short and hostile, one in twelve 100 kB (parsing
    a percent-encoded 100 kB body is what costs most time)."""
    return st.one_of(*[hostile_text()] * 11, huge_text())


@cache
def emails() -> st.SearchStrategy[str]:
    """Addresses valid, odd, international, too long and broken."""
    return st.one_of(
        st.emails().map(str),
        st.sampled_from(
            [
                KNOWN,
                KNOWN.upper(),
                f"  {KNOWN}  ",
                LINKED,
                "jürgen@müller.de",
                "用户@例子.广告",
                "ñoño@xn--mller-kva.de",
                "a@b",
                "@example.be",
                "a@@example.be",
                "a@example..be",
                "a.@example.be",
                '"quoted local"@example.be',
                "a@[127.0.0.1]",
                "a@localhost",
                f"{'a' * 64}@example.be",
                f"{'a' * 65}@example.be",
                f"a@{'b' * 63}.{'c' * 63}.{'d' * 63}.{'e' * 57}.be",
                f"{'a' * 300}@{'b' * 300}.be",
                f"{KNOWN}\r\nBcc: victim@example.com",
                f"{KNOWN}\x00",
                f"{KNOWN}\u202e",
                f"\u200b{KNOWN}",
            ]
        ),
        st.builds(lambda local, tail: f"{local}@{tail}", hostile_text(12), hostile_text(12)),
        huge_text(),
    )


# --- forms ------------------------------------------------------------------------

Pairs = list[tuple[str, str]]


def contact_base(email: str) -> Pairs:
    return [
        ("name", "Els Janssens"),
        ("email", email),
        ("company", "Janssens bv"),
        ("address", "Kerkstraat 1\n9000 Gent"),
        ("phone", "09 265 81 11"),
        ("notice_version", "1"),
        ("fax", ""),
        ("message", "Hallo, ik heb een vraag over jullie diensten."),
        ("subscribe", "y"),
        ("topics", "service-news"),
    ]


def subscribe_base(email: str) -> Pairs:
    return [
        ("email", email),
        ("name", "Els"),
        ("topics", "product-updates"),
        ("language", "nl"),
        ("notice_version", "1"),
    ]


def preferences_base(email: str) -> Pairs:
    return [("email", email)]


def feedback_base(email: str) -> Pairs:
    # The form's token is signed by the app; the fuzz sends a forged one (a 400).
    return [("survey", "not.a-signed.form"), ("answer", "too_many")]


def my_data_base(email: str) -> Pairs:
    return [("email", email), ("kind", "access")]


def login_base(email: str) -> Pairs:
    return [("email", STAFF), ("password", "not the password at all"), ("next", "/staff/")]


def totp_base(email: str) -> Pairs:
    return [("code", "123456")]


def preferences_form_base(email: str) -> Pairs:
    return [
        ("topics", "product-updates"),
        ("topics", "company-news"),
        ("language", "en"),
        ("name", "Linked Person"),
        ("company", ""),
        ("address", ""),
        ("phone", "+32 9 265 81 11"),
        ("fax", ""),
    ]


def email_change_base(email: str) -> Pairs:
    return [("new_email", "new.linked@example.be")]


def one_click_base(email: str) -> Pairs:
    return [("List-Unsubscribe", "One-Click")]


def button_base(email: str) -> Pairs:
    return []


FIELD_VALUES: dict[str, st.SearchStrategy[str]] = {
    "email": emails(),
    "new_email": emails(),
    "topics": st.one_of(st.sampled_from([*TOPICS, "", "PRODUCT-UPDATES", "none"]), any_text()),
    "language": st.one_of(st.sampled_from(["nl", "en", "", "fr", "nl_BE", "EN"]), any_text()),
    "kind": st.one_of(
        st.sampled_from(["access", "rectification", "erasure", "objection", "portability"]),
        any_text(),
    ),
    "subscribe": st.sampled_from(["y", "on", "true", "1", "", "no", "false", "0"]),
    "phone": st.one_of(st.sampled_from(["+32 9 265 81 11", "0470 12 34 56", "+999"]), any_text()),
    "code": st.one_of(st.text(string.digits, max_size=12), any_text()),
    "next": st.one_of(
        st.sampled_from(["//evil.example", "https://evil.example/", "/\\evil", "javascript:x"]),
        any_text(),
    ),
    "List-Unsubscribe": st.sampled_from(["One-Click", "one-click", "", "One-Click\r\n"]),
}


def value_for(name: str) -> st.SearchStrategy[str]:
    return FIELD_VALUES.get(name, any_text())


@st.composite
def mutated_fields(draw: st.DrawFn, base: Pairs) -> Pairs:
    """A valid form with a few fields dropped, replaced, repeated or added."""
    pairs = list(base)
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["drop", "replace", "replace", "repeat", "unknown"]))
        if action == "unknown" or not pairs:
            pairs.append((draw(hostile_text(20)), draw(any_text())))
            continue
        index = draw(st.integers(0, len(pairs) - 1))
        name = pairs[index][0]
        if action == "drop":
            del pairs[index]
        elif action == "replace":
            pairs[index] = (name, draw(value_for(name)))
        else:
            pairs.insert(index, (name, draw(value_for(name))))
    if draw(st.integers(0, 9)) == 0:
        pairs.append(("website", draw(st.sampled_from(["http://spam.example", " ", "x"]))))
    if draw(st.booleans()):
        pairs = draw(st.permutations(pairs))
    return pairs


# --- bodies -------------------------------------------------------------------------


def raw(text: str) -> bytes:
    """UTF-8, with lone surrogates as the (invalid) bytes a careless encoder sends."""
    return text.encode("utf-8", "surrogatepass")


def urlencoded(pairs: Pairs, style: str) -> bytes:
    if style == "unescaped":  # raw bytes, as a broken client sends them
        return b"&".join(raw(k) + b"=" + raw(v) for k, v in pairs)
    joined = b"&".join(
        quote_from_bytes(raw(k), safe="").encode() + b"=" + quote_from_bytes(raw(v)).encode()
        for k, v in pairs
    )
    if style == "plus":
        return joined.replace(b"%20", b"+")
    if style == "semicolons":
        return joined.replace(b"&", b";")
    if style == "junk":
        return b"&&=&" + joined + b"&%&%zz&=x&" + b"%" * 3
    return joined


def multipart(pairs: Pairs, boundary: str, style: str) -> bytes:
    b = raw(boundary)
    parts = []
    for name, value in pairs:
        disposition = b'Content-Disposition: form-data; name="' + raw(name) + b'"'
        if style == "files":
            disposition += b'; filename="' + raw(name) + b'.txt"'
        head = disposition + b"\r\n"
        if style == "charset":
            head += b"Content-Type: text/plain; charset=utf-16\r\n"
        if style == "base64":
            head += b"Content-Transfer-Encoding: base64\r\n"
        parts.append(b"--" + b + b"\r\n" + head + b"\r\n" + raw(value) + b"\r\n")
    end = b"" if style == "unterminated" else b"--" + b + b"--\r\n"
    return b"".join(parts) + end


JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.lists(st.integers(), max_size=3)
) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
BOUNDARY_TAIL = st.text(string.ascii_letters + string.digits, max_size=20)
PRINTABLE = st.text(string.printable, max_size=80)
SIGNATURE = st.text(string.ascii_letters + "-_", max_size=30)


@dataclass
class Body:
    """A request body and the Content-Type it goes with (None: no header)."""

    data: bytes
    content_type: str | None
    pairs: Pairs | None = None  # the fields, when the body is a well-formed form


@st.composite
def bodies(draw: st.DrawFn, pairs: Pairs) -> Body:
    """The same fields, encoded well, badly, or as something that is not a form."""
    kind = draw(
        st.sampled_from(
            ["urlencoded"] * 6
            + ["multipart"] * 3
            + ["odd-urlencoded", "odd-multipart", "json", "typed-json", "bad-json", "text"]
            + ["none", "odd-type"]
        )
    )
    if kind == "urlencoded":
        return Body(urlencoded(pairs, "plain"), "application/x-www-form-urlencoded", pairs)
    if kind == "multipart":
        boundary = "fuzzboundary" + draw(BOUNDARY_TAIL)
        return Body(
            multipart(pairs, boundary, "plain"), f"multipart/form-data; boundary={boundary}", pairs
        )
    if kind == "odd-urlencoded":
        style = draw(st.sampled_from(["unescaped", "plus", "semicolons", "junk"]))
        charset = draw(
            st.sampled_from(
                ["", "; charset=utf-8", "; charset=latin-1", "; charset=utf-16", "; charset=\x00"]
            )
        )
        return Body(urlencoded(pairs, style), "application/x-www-form-urlencoded" + charset)
    if kind == "odd-multipart":
        boundary = draw(
            st.one_of(
                st.sampled_from(
                    ["", '""', '"quoted boundary"', "a" * 71, "b" * 5000, "--", "x;y=z"]
                ),
                PRINTABLE,
            )
        )
        header_boundary = draw(st.sampled_from([boundary, boundary + "x", ""]))
        style = draw(st.sampled_from(["plain", "files", "charset", "base64", "unterminated"]))
        content_type = draw(
            st.sampled_from(
                [
                    f"multipart/form-data; boundary={header_boundary}",
                    f'multipart/form-data; boundary="{header_boundary}"',
                    "multipart/form-data",
                    f"multipart/mixed; boundary={header_boundary}",
                    f"Multipart/Form-Data; BOUNDARY={header_boundary}; charset=utf-8",
                ]
            )
        )
        return Body(multipart(pairs, boundary, style), content_type)
    if kind == "json":
        return Body(raw(json.dumps(dict(pairs))), "application/json")
    if kind == "typed-json":  # numbers, nulls and nesting where a form has text
        typed = {k: draw(JSON_VALUES) for k, _ in pairs}
        return Body(raw(json.dumps(typed)), "application/json")
    if kind == "bad-json":
        return Body(raw(json.dumps(dict(pairs)))[:-1] + b"\xff", "application/json")
    if kind == "text":
        return Body(urlencoded(pairs, "plain"), "text/plain")
    if kind == "none":
        return Body(urlencoded(pairs, "plain"), None)
    odd = draw(
        st.sampled_from(
            ["application/xml", "*/*", "", "form", "application/x-www-form-urlencoded\x00", "a/b/c"]
        )
    )
    return Body(urlencoded(pairs, "plain"), odd)


# --- the CSRF token -----------------------------------------------------------------


@dataclass
class Csrf:
    """How the form's token is sent: the real one, none, or a damaged one."""

    mode: str
    junk: str = ""

    def pairs(self, real: str) -> Pairs:
        if self.mode == "real":
            return [("csrf_token", real)]
        if self.mode == "none":
            return []
        if self.mode == "truncated":
            return [("csrf_token", real[: len(real) // 2])]
        if self.mode == "twice":
            return [("csrf_token", self.junk), ("csrf_token", real)]
        if self.mode == "flipped":
            return [("csrf_token", real[:-2] + ("A" if real[-2] != "A" else "B") + real[-1])]
        return [("csrf_token", self.junk)]


csrf_modes = st.builds(
    Csrf,
    st.sampled_from(["real"] * 8 + ["none", "truncated", "twice", "flipped", "junk"]),
    hostile_text(),
)


# --- headers ------------------------------------------------------------------------


def wsgi_header(text: str) -> str:
    """A header value as a WSGI server hands it over: bytes read as latin-1, one line."""
    value = raw(text).decode("latin-1")
    return value.replace("\r", "").replace("\n", "")


@st.composite
def headers(draw: st.DrawFn) -> dict[str, str]:
    chosen: dict[str, str] = {}
    if draw(st.integers(0, 3)) == 0:
        chosen["User-Agent"] = wsgi_header(draw(any_text()))
    if draw(st.integers(0, 3)) == 0:
        chosen["Accept-Language"] = wsgi_header(
            draw(
                st.one_of(
                    st.sampled_from(
                        [
                            "en",
                            "nl;q=0.5, en;q=1.5",
                            "*",
                            "xx-YY",
                            "en;q=abc",
                            ";;,,",
                            "de-DE-u-co-phonebk",
                        ]
                    ),
                    hostile_text(),
                )
            )
        )
    if draw(st.integers(0, 5)) == 0:
        chosen["X-Forwarded-For"] = wsgi_header(draw(hostile_text()))
    if draw(st.integers(0, 7)) == 0:
        chosen["Accept"] = wsgi_header(draw(st.sampled_from(["application/json", "*/*;q=x", ""])))
    return chosen


queries = st.one_of(
    st.just(""),
    st.just(""),
    st.sampled_from(["lang=en", "lang=nl", "lang=xx", "lang=", "lang=en&lang=nl", "kind=erasure"]),
    st.builds(
        lambda name, value: quote_from_bytes(raw(name)) + "=" + quote_from_bytes(raw(value)),
        st.sampled_from(["lang", "kind", "next", "page", "q", "token"]),
        hostile_text(),
    ),
    st.builds(lambda text: "lang=" + quote_from_bytes(raw(text)), huge_text()),
)


# --- links -----------------------------------------------------------------------------


def segment(text: str) -> str:
    """One path segment, percent-encoded (a lone surrogate goes as its invalid bytes)."""
    return quote_from_bytes(raw(text), safe="")


@st.composite
def tokens(draw: st.DrawFn, real: dict[str, str], purpose: str) -> str:
    """A link token: genuine, for another purpose, damaged, foreign or plain junk."""
    own = real[purpose]
    other = draw(st.sampled_from(sorted(real.values())))
    kind = draw(
        st.sampled_from(
            ["own"] * 3
            + [
                "other",
                "truncated",
                "flipped",
                "suffix",
                "signature",
                "foreign",
                "junk",
                "raw-junk",
            ]
        )
    )
    if kind == "own":
        return segment(own)
    if kind == "other":
        return segment(other)
    if kind == "truncated":
        return segment(own[: draw(st.integers(0, len(own) - 1))])
    if kind == "flipped":
        at = draw(st.integers(0, len(own) - 1))
        replacement = draw(st.sampled_from("AZaz09-_.="))
        return segment(own[:at] + replacement + own[at + 1 :])
    if kind == "suffix":
        return segment(own + draw(hostile_text(8)))
    if kind == "signature":
        head = own.rsplit(".", 1)[0]
        return segment(head + "." + draw(SIGNATURE))
    if kind == "foreign":
        return segment(real["foreign"])
    if kind == "junk":
        return segment(draw(st.one_of(hostile_text(), huge_text())))
    # Raw path text: slashes, dots, percent signs and invalid percent-escapes as typed.
    return draw(
        st.sampled_from(
            ["..", ".", "%", "%zz", "%ed%a0%80", "%ff%fe", "%00", "a/b", "%2F", "%2e%2e", "~"]
        )
    )


# --- the app and the people it knows -------------------------------------------------


@dataclass
class World:
    """The fuzz app, a client holding a CSRF token, and genuine links to damage."""

    app: Flask
    backend: str
    client: FlaskClient
    token: str
    links: dict[str, str] = field(default_factory=dict)
    fresh: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**7)))

    def counts(self) -> tuple[int, ...]:
        query = "SELECT " + ", ".join(
            f"(SELECT count(*) FROM {table}{PERSONAL_ROWS.get(table, '')})"
            for table in PERSONAL_TABLES
        )
        with self.app.app_context():
            row = db.session.execute(sa.text(query)).one()
            db.session.remove()
        return tuple(row)


def make_links(app: Flask) -> dict[str, str]:
    """Genuine links of every purpose for the linked person, and one signed with another key."""
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == LINKED))
        assert contact is not None
        request = db.session.scalar(
            sa.select(DataRequest).where(DataRequest.subject_id == contact.public_id)
        )
        assert request is not None
        links = {
            "confirm": make_token(Purpose.CONFIRM, contact, t=TOPICS, l="nl"),
            "unsubscribe": make_token(Purpose.UNSUBSCRIBE, contact, t=["product-updates"]),
            "preferences": make_token(Purpose.PREFERENCES, contact),
            "preferences-request": make_token(Purpose.PREFERENCES_REQUEST, contact),
            "email-change": make_token(
                Purpose.EMAIL_CHANGE, contact, n=address_hash("new.linked@example.be")
            ),
            "identity": make_token(Purpose.IDENTITY, contact, r=request.public_id),
            "export": make_token(Purpose.EXPORT, contact, r=request.public_id),
            # No campaign went out in this world: a genuine signature for one that did not.
            "web-version": make_token(Purpose.WEB_VERSION, contact, k="no-such-campaign"),
            # No round asked anything in this world either.
            "still-wanted": make_token(
                Purpose.STILL_WANTED, contact, r="no-such-round", t="product-updates"
            ),
        }
        foreign = URLSafeTimedSerializer(
            "another-secret-key-altogether", salt="consentapp.unsubscribe"
        )
        links["foreign"] = str(foreign.dumps({"c": contact.public_id, "h": "0" * 24}))
        db.session.remove()
    return links


@pytest.fixture
def world(database_url: str, smtp_server: SMTPServer, tmp_path: Path) -> Iterator[World]:
    """The app with rate limits off (or every example would be a 429), seeded, with a
    known subscriber, a linked person with an open data request, and a staff account."""
    app = make_app(database_url, smtp_server.port, tmp_path / "instance", RATELIMIT_ENABLED=False)
    smtp_server.reset()
    with app.app_context():
        seed_topics()
        seed_notice()
        seed_register()
        db.session.commit()
    make_staff(app, STAFF, "staff")
    setup = app.test_client()
    for email in (KNOWN, LINKED):
        answer = post_form(setup, "/contact", dict(contact_base(email)))
        assert answer.status_code == 302, answer.status_code
        answer = post_form(setup, "/subscribe", dict(subscribe_base(email)))
        assert answer.status_code == 200, answer.status_code
    assert post_form(setup, "/my-data", {"email": LINKED, "kind": "access"}).status_code == 200
    client = app.test_client()
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    yield World(app, backend, client, csrf_token(client, "/contact"), make_links(app))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- sending and checking ------------------------------------------------------------


def send(
    world: World,
    method: str,
    path: str,
    body: Body | None = None,
    client: FlaskClient | None = None,
    **kw: Any,
) -> TestResponse:
    """One fuzzed request; counted, and checked for what must never show."""
    SENT[world.backend] += 1
    data = body.data if body is not None else None
    content_type = body.content_type if body is not None else None
    if content_type is not None:  # a header is one line: a WSGI server never passes CR or LF
        content_type = content_type.replace("\r", "").replace("\n", "")
    environ: dict[str, str] = {}
    if content_type is None:
        environ["CONTENT_TYPE"] = ""
    response = (client or world.client).open(
        path,
        method=method,
        data=data,
        content_type=content_type,
        environ_overrides=environ,
        **kw,
    )
    sent = (body.data if body else b"") + path.encode()
    assert response.status_code < 500, (method, path, response.status_code)
    page = response.get_data()
    leak = LEAKS.search(page.decode("utf-8", "replace"))
    if leak and leak.group(0).encode() not in sent:
        raise AssertionError(f"{method} {path}: the page shows {leak.group(0)!r}")
    return response


def refused(response: TestResponse) -> bool:
    return 400 <= response.status_code < 500


def caught_by_bot_trap(body: Body) -> bool:
    """The hidden field filled in a well-formed form (its first value is the one read)."""
    return body.pairs is not None and next((v for k, v in body.pairs if k == "website"), "") != ""


def check_refusal_keeps_nothing(
    world: World, before: tuple[int, ...], response: TestResponse, bot: bool = False
) -> None:
    """A refused request, or one the bot trap caught, leaves every personal-data table as it was."""
    if refused(response) or bot:
        assert world.counts() == before, (response.status_code, "a refused request wrote rows")


def form_body(csrf: Csrf, fields: Pairs, token: str) -> Pairs:
    return csrf.pairs(token) + fields


# --- the route table ---------------------------------------------------------------

# Every endpoint a visitor reaches without a staff login, with the form it posts.
# Each form's examples per sqlite run: a staff login costs a deliberately slow password hash.
FORM_EXAMPLES = {
    "public.contact": 1200,
    "subscriptions.subscribe": 1200,
    "subscriptions.request_preferences": 900,
    "rights.my_data": 900,
    "subscriptions.unsubscribe_feedback": 600,
    "staff.login": 120,
    "staff.login_totp": 400,
}
FORMS: dict[str, tuple[str, Callable[[str], Pairs]]] = {
    "public.contact": ("/contact", contact_base),
    "subscriptions.subscribe": ("/subscribe", subscribe_base),
    "subscriptions.request_preferences": ("/preferences", preferences_base),
    "rights.my_data": ("/my-data", my_data_base),
    "subscriptions.unsubscribe_feedback": ("/unsubscribe-feedback", feedback_base),
    "staff.login": ("/staff/login", login_base),
    "staff.login_totp": ("/staff/login/totp", totp_base),
}
# Link endpoints: the path (with {t} for the token), the genuine link it takes, its form.
LINKS: dict[str, tuple[str, str, Callable[[str], Pairs]]] = {
    "subscriptions.confirm": ("/subscribe/confirm/{t}", "confirm", button_base),
    "subscriptions.unsubscribe": ("/unsubscribe/{t}", "unsubscribe", one_click_base),
    "subscriptions.preferences": ("/preferences/{t}", "preferences-request", preferences_form_base),
    "subscriptions.change_email": (
        "/preferences/{t}/email",
        "preferences-request",
        email_change_base,
    ),
    "subscriptions.unsubscribe_all": (
        "/preferences/{t}/unsubscribe-all",
        "preferences",
        button_base,
    ),
    "subscriptions.send_details_link": (
        "/preferences/{t}/details-link",
        "preferences",
        button_base,
    ),
    "subscriptions.verify_email": ("/preferences/email/{t}", "email-change", button_base),
    "subscriptions.receipt": ("/preferences/{t}/receipt", "preferences", button_base),
    "subscriptions.receipt_download": ("/preferences/{t}/receipt.json", "preferences", button_base),
    "rights.verify": ("/my-data/verify/{t}", "identity", button_base),
    "rights.export": ("/my-data/export/{t}.json", "export", button_base),
    "subscriptions.web_version": ("/newsletter/{t}", "web-version", button_base),
    "subscriptions.still_wanted": ("/still-wanted/{t}", "still-wanted", button_base),
}
# Pages that only show something: fuzzed through the query string, headers and path.
PAGES: dict[str, str] = {
    "public.home": "/",
    "public.contact_thanks": "/contact/thanks",
    "public.privacy": "/privacy",
    "public.privacy_version": "/privacy/{v}",
    "public.cookies": "/cookies",
    "public.archive_index": "/archive",
    "public.archive_entry": "/archive/service-news/{v}",
    "public.archive_feed": "/archive/{v}.atom",
    "public.healthz": "/healthz",
    "public.follow_link": "/r/{v}",
    "public.open_pixel": "/o/{v}.gif",
    "static": "/static/{v}",
}
# Endpoints for servers, signed instead of carrying a CSRF token: fuzzed with every
# provider switched on, hostile JSON and signature headers (the fuzz knows no secret).
WEBHOOKS: dict[str, str] = {"webhooks.bounces": "/webhooks/bounces/{p}"}
# The REST API: fuzzed with a token holding every scope, none, or junk; {p} a path part.
API: dict[str, tuple[str, str]] = {
    "api.openapi_document": ("GET", "/api/v1/openapi.json"),
    "api.openapi_spec": ("GET", "/api/v1/spec/openapi.json"),
    "api.docs_page": ("GET", "/api/v1/docs"),
    "api.list_topics": ("GET", "/api/v1/topics"),
    "api.list_contacts": ("GET", "/api/v1/contacts"),
    "api.read_contact": ("GET", "/api/v1/contacts/{p}"),
    "api.read_ledger": ("GET", "/api/v1/contacts/{p}/ledger"),
    "api.request_subscription": ("POST", "/api/v1/subscriptions"),
    "api.check_suppression": ("GET", "/api/v1/suppressions/check"),
    "api.create_contact": ("POST", "/api/v1/contacts"),
    "api.rectify_contact": ("PATCH", "/api/v1/contacts/{p}"),
    "api.withdraw_topic": ("DELETE", "/api/v1/contacts/{p}/subscriptions/product-updates"),
    "api.list_campaigns": ("GET", "/api/v1/campaigns"),
    "api.read_campaign": ("GET", "/api/v1/campaigns/{p}"),
    "api.create_campaign_draft": ("POST", "/api/v1/campaigns"),
    "api.schedule_campaign": ("POST", "/api/v1/campaigns/{p}/schedule"),
    "api.list_data_requests": ("GET", "/api/v1/data-requests"),
    "api.read_data_request": ("GET", "/api/v1/data-requests/{p}"),
    "api.create_data_request": ("POST", "/api/v1/data-requests"),
    "api.start_erasure": ("POST", "/api/v1/contacts/{p}/erasure"),
}
# JSON endpoints for scripts on the company's own site (EMBED_ORIGINS).
EMBED: dict[str, str] = {
    "embed.subscribe": "/api/embed/subscribe",
    "embed.altcha_challenge": "/api/embed/altcha",
}
# Where the answer must not tell whether the address is known.
SAME_ANSWER = ["/subscribe", "/preferences", "/my-data"]


def test_every_public_route_is_fuzzed(world: World) -> None:
    """A new public route fails here until it has its entry in the fuzz's tables."""
    public = {
        rule.endpoint
        for rule in world.app.url_map.iter_rules()
        if not rule.rule.startswith("/staff/")
    } | {"staff.login", "staff.login_totp"}
    assert public == (set(FORMS) | set(LINKS) | set(PAGES) | set(WEBHOOKS) | set(API) | set(EMBED))


# --- the fuzz tests -----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", sorted(FORMS))
def test_forms_survive_hostile_posts(world: World, endpoint: str) -> None:
    """Any body to any form: a 4xx or a success, never a 5xx; refused input keeps nothing."""
    path, base = FORMS[endpoint]

    @fuzz_settings(world.backend, FORM_EXAMPLES[endpoint])
    @given(
        fields=st.sampled_from([KNOWN, LINKED, "fresh@example.be"]).flatmap(
            lambda email: mutated_fields(base(email))
        ),
        csrf=csrf_modes,
        data=st.data(),
        extra=headers(),
        query=queries,
    )
    def run(
        fields: Pairs, csrf: Csrf, data: st.DataObject, extra: dict[str, str], query: str
    ) -> None:
        body = data.draw(bodies(form_body(csrf, fields, world.token)))
        before = world.counts()
        url = f"{path}?{query}" if query else path
        response = send(world, "POST", url, body, headers=extra)
        check_refusal_keeps_nothing(world, before, response, caught_by_bot_trap(body))

    run()
    COMPLETED.add(f"{world.backend}:forms:{endpoint}")


@pytest.mark.parametrize("path", SAME_ANSWER)
def test_known_and_unknown_addresses_get_the_same_answer(world: World, path: str) -> None:
    """Whatever else the form carries, a known address and an unknown one read alike."""
    endpoint = next(name for name, (url, _) in FORMS.items() if url == path)
    base = FORMS[endpoint][1]

    @fuzz_settings(world.backend, 300)
    @given(
        others=mutated_fields(base("placeholder@example.be")),
        spelling=st.sampled_from([str, str.upper, str.title, lambda e: f" {e}\t"]),
        encoding=st.sampled_from(["urlencoded", "multipart"]),
        csrf=st.sampled_from(["real"] * 6 + ["none", "junk"]).map(Csrf),
    )
    def run(others: Pairs, spelling: Callable[[str], str], encoding: str, csrf: Csrf) -> None:
        unknown = f"u{next(world.fresh):07d}.person@example.be"
        answers = []
        for address in (KNOWN, unknown):
            typed = spelling(address)
            pairs = csrf.pairs(world.token) + [(k, typed if k == "email" else v) for k, v in others]
            if encoding == "urlencoded":
                body = Body(urlencoded(pairs, "plain"), "application/x-www-form-urlencoded", pairs)
            else:
                body = Body(
                    multipart(pairs, "same", "plain"), "multipart/form-data; boundary=same", pairs
                )
            response = send(world, "POST", path, body)
            page = without_csrf(response.get_data(as_text=True))
            for shown in sorted({typed, typed.strip(), address}, key=len, reverse=True):
                page = page.replace(shown, "ADDRESS")
            answers.append((response.status_code, page, response.headers.get("Location")))
        assert answers[0] == answers[1], "\n".join(
            difflib.unified_diff(answers[0][1].splitlines(), answers[1][1].splitlines(), n=1)
        )

    run()
    COMPLETED.add(f"{world.backend}:same:{path}")


@pytest.mark.parametrize("endpoint", sorted(LINKS))
def test_links_survive_hostile_tokens(world: World, endpoint: str) -> None:
    """Any token, any method, any body: a friendly 4xx or the page, never a 5xx."""
    template, purpose, base = LINKS[endpoint]

    @fuzz_settings(world.backend, 250)
    @given(
        token=tokens(world.links, purpose),
        method=st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "DELETE", "HEAD"]),
        fields=mutated_fields(base(LINKED)),
        csrf=csrf_modes,
        data=st.data(),
        extra=headers(),
    )
    def run(
        token: str,
        method: str,
        fields: Pairs,
        csrf: Csrf,
        data: st.DataObject,
        extra: dict[str, str],
    ) -> None:
        path = template.format(t=token)
        body = data.draw(bodies(form_body(csrf, fields, world.token))) if method == "POST" else None
        before = world.counts()
        response = send(world, method, path, body, headers=extra)
        check_refusal_keeps_nothing(world, before, response)

    run()
    COMPLETED.add(f"{world.backend}:links:{endpoint}")


@pytest.mark.parametrize("endpoint", sorted(PAGES))
def test_pages_survive_hostile_queries_and_headers(world: World, endpoint: str) -> None:
    """Reading pages with odd query strings, headers, cookies and path parts."""
    template = PAGES[endpoint]

    @fuzz_settings(world.backend, 150)
    @given(
        part=st.one_of(
            st.sampled_from(
                [
                    "1",
                    "0",
                    "01",
                    "2",
                    "99999999999999999999",
                    "css/site.css",
                    "../../pyproject.toml",
                    "%2e%2e/%2e%2e/pyproject.toml",
                    "..%2f..%2fpyproject.toml",
                    "x%00.css",
                    "%ff",
                    "css/",
                ]
            ),
            hostile_text().map(segment),
        ),
        method=st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "OPTIONS", "PATCH"]),
        query=queries,
        extra=headers(),
        cookie=st.one_of(st.none(), hostile_text().map(wsgi_header)),
    )
    def run(part: str, method: str, query: str, extra: dict[str, str], cookie: str | None) -> None:
        path = template.format(v=part)
        url = f"{path}?{query}" if query else path
        client = None
        if cookie is not None:
            # A forged session cookie, on a client of its own so the shared session survives.
            client = world.app.test_client(use_cookies=False)
            extra = {**extra, "Cookie": f"consentapp_session={cookie}"}
        before = world.counts()
        send(world, method, url, client=client, headers=extra)
        assert world.counts() == before, "reading a page wrote personal data"

    run()
    COMPLETED.add(f"{world.backend}:pages:{endpoint}")


def test_every_route_survives_odd_paths_without_a_login(world: World) -> None:
    """Every rule in the app, staff ones too, with odd values in each path part and no login."""
    rules = sorted(world.app.url_map.iter_rules(), key=lambda rule: rule.rule)
    # Sampled by position: werkzeug rules for one path with different methods compare
    # equal, which makes hypothesis replay examples inconsistently.

    @fuzz_settings(world.backend, 700)
    @given(
        rule=st.sampled_from(range(len(rules))).map(rules.__getitem__),
        part=st.one_of(
            hostile_text().map(segment),
            st.sampled_from(["1", "0", "-1", "2147483648", "approve", "csv", "json"]),
        ),
        method=st.sampled_from(["GET", "POST"]),
        csrf=csrf_modes,
        fields=st.lists(st.tuples(hostile_text(10), any_text()), max_size=4),
        data=st.data(),
    )
    def run(
        rule: Any, part: str, method: str, csrf: Csrf, fields: Pairs, data: st.DataObject
    ) -> None:
        path = re.sub(r"<[^>]+>", part, rule.rule)
        body = data.draw(bodies(form_body(csrf, fields, world.token))) if method == "POST" else None
        before = world.counts()
        response = send(world, method, path, body)
        if rule.rule.startswith("/staff/") and rule.endpoint not in FORMS:
            # 413: a body too large for anyone not logged in is refused before it is read.
            assert response.status_code in (302, 308, 400, 401, 403, 404, 405, 413, 415), (
                response.status_code
            )
            assert world.counts() == before, "a staff page did something without a login"

    run()
    COMPLETED.add(f"{world.backend}:sweep")


WEBHOOK_HEADERS = [
    "Authorization",
    "X-Twilio-Email-Event-Webhook-Signature",
    "X-Twilio-Email-Event-Webhook-Timestamp",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-amz-sns-message-type",
]
SIGNATURE_FIELDS = ["Type", "TopicArn", "Timestamp", "SignatureVersion", "SigningCertURL"]
SIGNATURE_FIELDS += ["Signature", "Message", "SubscribeURL", "signature", "event-data"]


def webhook_settings() -> dict[str, Any]:
    """Every provider on, with secrets made now (a valid SendGrid key nobody holds)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return {
        "BOUNCE_WEBHOOK_SES_TOPIC_ARNS": ["arn:aws:sns:eu-west-1:123456789012:bounces"],
        "BOUNCE_WEBHOOK_POSTMARK_SECRET": os.urandom(12).hex(),
        "BOUNCE_WEBHOOK_SENDGRID_KEY": base64.b64encode(der).decode(),
        "BOUNCE_WEBHOOK_MAILGUN_KEY": os.urandom(12).hex(),
        "BOUNCE_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(32)).decode(),
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(hostile_text(10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def webhook_bodies(draw: st.DrawFn) -> bytes:
    """JSON shaped like each provider's (an SNS envelope, a Mailgun signature), any JSON,
    or bytes that are not JSON at all."""
    kind = draw(st.sampled_from(["shaped", "shaped", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.one_of(st.binary(max_size=200), hostile_text().map(raw)))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    fields = draw(st.dictionaries(st.sampled_from(SIGNATURE_FIELDS), json_values, max_size=8))
    if draw(st.booleans()):
        fields["Type"] = draw(st.sampled_from(["Notification", "SubscriptionConfirmation"]))
        fields["SigningCertURL"] = draw(
            st.sampled_from(
                [
                    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
                    "https://evil.example/x.pem",
                    "file:///etc/passwd",
                ]
            )
        )
    return json.dumps(fields).encode()


def test_webhooks_survive_hostile_posts(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any body and signature headers to any provider: a 4xx, never a 5xx, and nothing
    queued or written. Amazon is never asked for a certificate."""
    from consentapp.webhooks import sns

    def no_fetch(url: str) -> bytes:
        raise AssertionError(f"the fuzz reached out to {url}")

    monkeypatch.setattr(sns, "fetch_certificate", no_fetch)
    world.app.config.update(webhook_settings())

    @fuzz_settings(world.backend, 400)
    @given(
        provider=st.sampled_from(["ses", "postmark", "sendgrid", "mailgun", "generic", "x"]),
        body=webhook_bodies(),
        content_type=st.sampled_from(["application/json", "text/plain", "application/xml"]),
        extra=st.dictionaries(
            st.sampled_from(WEBHOOK_HEADERS), hostile_text().map(wsgi_header), max_size=4
        ),
        query=queries,
    )
    def run(
        provider: str, body: bytes, content_type: str, extra: dict[str, str], query: str
    ) -> None:
        path = WEBHOOKS["webhooks.bounces"].format(p=provider)
        before = world.counts()
        url = f"{path}?{query}" if query else path
        response = send(world, "POST", url, Body(body, content_type), headers=extra)
        assert response.status_code in (400, 401, 404, 413, 415), response.status_code
        assert response.mimetype == "application/problem+json"
        assert world.counts() == before, "a refused webhook wrote rows"

    run()
    COMPLETED.add(f"{world.backend}:webhooks")


EMBED_SITE = "https://www.crm.be"
EMBED_FIELDS = ["email", "name", "topics", "language", "website", "notice_version", "altcha"]


@st.composite
def embed_bodies(draw: st.DrawFn) -> bytes:
    """JSON objects with the contract's names and hostile values, or anything at all."""
    if draw(st.booleans()):
        return json.dumps(draw(json_values)).encode()
    fields: dict[str, Any] = draw(
        st.dictionaries(st.sampled_from(EMBED_FIELDS), json_values, max_size=7)
    )
    if draw(st.booleans()):
        fields["email"] = draw(st.sampled_from([KNOWN, "fresh@example.be"]))
        fields["topics"] = draw(st.lists(st.sampled_from([*TOPICS, "nope"]), max_size=3))
    return json.dumps(fields).encode()


def test_embed_survives_hostile_posts(world: World) -> None:
    """Any body from any origin, ALTCHA on or off: a 2xx or a 4xx problem, never a 5xx;
    refused requests write nothing, and CORS headers go to the listed origin only."""
    world.app.config["EMBED_ORIGINS"] = [EMBED_SITE]

    @fuzz_settings(world.backend, 300)
    @given(
        body=embed_bodies(),
        content_type=st.sampled_from(["application/json", "text/plain", "application/json; x"]),
        origin=st.sampled_from([EMBED_SITE, "https://evil.example", "null", None]),
        altcha_on=st.booleans(),
        query=queries,
    )
    def run(
        body: bytes, content_type: str, origin: str | None, altcha_on: bool, query: str
    ) -> None:
        with world.app.app_context():
            db.session.merge(Setting(key="embed_altcha", value="1" if altcha_on else "0"))
            db.session.commit()
        headers = {"Origin": origin} if origin else {}
        before = world.counts()
        path = EMBED["embed.subscribe"] + (f"?{query}" if query else "")
        response = send(world, "POST", path, Body(body, content_type), headers=headers)
        assert response.status_code in (202, 400, 403, 413, 415, 422, 429), response.status_code
        if response.status_code != 202:
            assert response.mimetype == "application/problem+json"
            assert world.counts() == before, "a refused post wrote rows"
        allowed = response.headers.get("Access-Control-Allow-Origin")
        assert allowed == (EMBED_SITE if origin == EMBED_SITE else None)
        challenge = send(world, "GET", EMBED["embed.altcha_challenge"], headers=headers)
        assert challenge.status_code == (200 if altcha_on else 404)

    run()
    COMPLETED.add(f"{world.backend}:embed")


def test_rate_limit_answers_429_under_hostile_posts(app: Flask) -> None:
    """With the limiter on, a flood of hostile posts gets 429s, never a 5xx."""
    client = app.test_client()
    token = csrf_token(client, "/contact")
    statuses: Counter[int] = Counter()

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(fields=mutated_fields(contact_base(KNOWN)), data=st.data())
    def run(fields: Pairs, data: st.DataObject) -> None:
        body = data.draw(bodies([("csrf_token", token), *fields]))
        for path in ("/contact", "/subscribe", "/my-data", "/preferences", "/staff/login"):
            SENT["limiter"] += 1
            response = client.open(
                path, method="POST", data=body.data, content_type=body.content_type
            )
            assert response.status_code < 500
            statuses[response.status_code] += 1

    run()
    assert statuses[429] > 0, statuses


API_QUERY_NAMES = ["email", "q", "cursor", "limit", "status", "kind", "other"]
API_FIELDS = ["email", "name", "topics", "language", "channel", "obtained_on", "evidence"]
API_FIELDS += ["reason", "phone", "kind", "note", "topic", "subject_nl", "body_nl", "at"]
API_FIELDS += ["other"]


@st.composite
def api_bodies(draw: st.DrawFn) -> Body:
    """A subscription request with hostile or wrongly typed fields, any JSON, or not JSON."""
    kind = draw(st.sampled_from(["fields", "fields", "fields", "json", "bytes"]))
    if kind == "bytes":
        return Body(draw(st.binary(max_size=200)), draw(st.sampled_from(["text/plain", None])))
    if kind == "json":
        return Body(json.dumps(draw(json_values)).encode(), "application/json")
    value = st.one_of(
        emails(), hostile_text(), st.lists(st.sampled_from([*TOPICS, "x"]), max_size=4), json_values
    )
    fields = draw(st.dictionaries(st.sampled_from(API_FIELDS), value, max_size=5))
    return Body(json.dumps(fields).encode(), "application/json")


def test_the_api_survives_hostile_calls(world: World) -> None:
    """Any path part, query and body to every API operation, with a token holding every
    scope, none or junk: never a 5xx, and every refusal a problem document."""
    from consentapp.services.api_tokens import issue_token

    with world.app.app_context():
        secret = issue_token("fuzz", list(ApiScope), "fuzz").secret
        known = db.session.scalar(sa.select(Contact.public_id).where(Contact.email == KNOWN))

    @fuzz_settings(world.backend, 400)
    @given(
        endpoint=st.sampled_from(sorted(API)),
        part=st.one_of(st.just(str(known)), hostile_text().map(segment)),
        query=st.lists(
            st.tuples(st.sampled_from(API_QUERY_NAMES), st.one_of(emails(), hostile_text())),
            max_size=3,
        ),
        body=api_bodies(),
        auth=st.sampled_from(["good", "good", "good", "none", "junk"]),
    )
    def run(endpoint: str, part: str, query: Pairs, body: Body, auth: str) -> None:
        method, path = API[endpoint]
        url = path.format(p=part)
        if query:
            url += "?" + "&".join(f"{k}={quote_from_bytes(raw(v))}" for k, v in query)
        header = {"good": f"Bearer {secret}", "none": "", "junk": "Bearer ca_junk"}[auth]
        response = send(
            world,
            method,
            url,
            body if method == "POST" else None,
            headers={"Authorization": header},
        )
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", (url, response.status_code)

    run()
    COMPLETED.add(f"{world.backend}:api")


def test_the_fuzz_sent_its_budget(capsys: pytest.CaptureFixture[str]) -> None:
    """The full sqlite fuzz sends at least REQUEST_BUDGET requests (skipped when only part ran)."""
    expected = {f"sqlite:forms:{e}" for e in FORMS} | {f"sqlite:same:{p}" for p in SAME_ANSWER}
    expected |= {f"sqlite:links:{e}" for e in LINKS} | {f"sqlite:pages:{e}" for e in PAGES}
    expected |= {"sqlite:sweep", "sqlite:webhooks", "sqlite:api"}
    with capsys.disabled():
        figures = ", ".join(f"{name}: {count}" for name, count in sorted(SENT.items()))
        print(f"\nfuzz requests sent: {figures}")
    if not expected <= COMPLETED or SCALE < 1:
        pytest.skip("only part of the fuzz ran")
    assert SENT["sqlite"] >= REQUEST_BUDGET, SENT
