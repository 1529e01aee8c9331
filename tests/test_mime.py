"""The bytes the worker writes for a mail: read back by the standard parser, unchanged."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default

import pytest

from consentapp.mail.mime import MalformedHeader, ascii_address, compose, header_line

TEXT = (
    "Beste lezer,\n\nZaterdag is er onderhoud: één uur stilte.  \n.\nFrom the team\n"
    + "lang " * 60
    + "\nUitschrijven: https://crm.example/unsubscribe/"
    + "x" * 150
    + "\n"
)
HTML = "<p>Zaterdag is er <strong>onderhoud</strong>: één uur.</p>\n" * 20


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def content(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def build(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "sender": "Bedrijf Één <news@crm.example>",
        "to": "reader@example.be",
        "subject": "Onderhoud zaterdag: één uur stilte " * 4,
        "text": TEXT,
        "html": HTML,
        "message_id": "<abc.123@crm.example>",
        "headers": {
            "List-Unsubscribe": "<https://crm.example/unsubscribe/" + "y" * 180 + ">",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": "Service news <service-news.crm.example>",
            "Reply-To": "Els Janssens <els@example.be>",
        },
        **overrides,
    }
    return compose(**fields)  # type: ignore[arg-type]


def test_every_part_reads_back_exactly() -> None:
    message = parse(build())
    assert content(message, "plain") == TEXT
    assert content(message, "html") == HTML
    assert str(message["Subject"]) == "Onderhoud zaterdag: één uur stilte " * 4
    assert message["From"].addresses[0].display_name == "Bedrijf Één"
    assert message["From"].addresses[0].addr_spec == "news@crm.example"
    assert message["To"] == "reader@example.be"
    assert message["Reply-To"].addresses[0].addr_spec == "els@example.be"
    assert message["Message-ID"] == "<abc.123@crm.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"] == "<https://crm.example/unsubscribe/" + "y" * 180 + ">"
    assert message["Date"].datetime is not None
    assert message.get_content_type() == "multipart/alternative"
    assert message.defects == [] and all(not part.defects for part in message.walk())


def test_wire_format_is_seven_bit_with_crlf_and_short_lines() -> None:
    raw = build()
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b""), "every line ends in CRLF"
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76, "quoted-printable lines"


def test_plain_text_only_mail_is_a_single_part() -> None:
    message = parse(build(html=""))
    assert message.get_content_type() == "text/plain"
    assert content(message, "plain") == TEXT


def test_each_mail_has_its_own_boundary() -> None:
    first, second = parse(build()), parse(build())
    assert first.get_boundary() != second.get_boundary()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Subject", "Hallo\r\nBcc: victim@example.be"),
        ("To", "a@example.be\nBcc: b@example.be"),
        ("List-Id", "x\rBcc: y"),
        ("To", "not an address"),
        ("To", "ëlsa@example.be"),
        ("List-Unsubscribe", "<" + "z" * 1200 + ">"),
    ],
)
def test_unsafe_header_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(MalformedHeader):
        header_line(name, value)


def test_long_header_with_spaces_is_folded() -> None:
    line = header_line("X-Topics", " ".join(["product-updates"] * 12))
    assert all(len(part) <= 78 for part in line.split("\r\n"))
    assert parse((line + "\r\n\r\nbody\r\n").encode())["X-Topics"] == " ".join(
        ["product-updates"] * 12
    )


def test_internationalised_domains_travel_in_their_ascii_form() -> None:
    assert ascii_address("jan@bücher.be") == "jan@xn--bcher-kva.be"
    assert ascii_address("jan@example.be") == "jan@example.be"
    message = parse(build(to="jan@bücher.be"))
    assert message["To"] == "jan@xn--bcher-kva.be"
    for bad in ("jan", "@example.be", "jän@example.be", "jan@bücher..be", "jan@bü cher.be"):
        with pytest.raises(MalformedHeader):
            ascii_address(bad)


def test_a_body_without_line_breaks_still_ends_every_line_in_crlf() -> None:
    raw = build(text="y" * 300, html="<p>" + "z" * 300 + "</p>")
    assert b"\n" not in raw.replace(b"\r\n", b""), "no bare LF, soft breaks included"
    message = parse(raw)
    assert content(message, "plain") == "y" * 300


def test_non_ascii_display_names_read_back_with_their_spaces() -> None:
    for name in (
        "Bedrijf Één met een heel lange naam voor de nieuwsbrief van het jaar",
        "Één Ünïcode Straße",
        "Café (Gent) & Zonen",
    ):
        line = header_line("From", f'"{name}" <news@café.be>')
        words = [word for word in line.replace("\r\n", " ").split() if word.startswith("=?")]
        assert words and all(len(word) <= 75 for word in words)
        assert all(len(part) <= 78 for part in line.split("\r\n"))
        message = parse((line + "\r\n\r\nbody\r\n").encode())
        assert message["From"].addresses[0].display_name == name
        assert message["From"].addresses[0].addr_spec == "news@xn--caf-dma.be"


def test_list_id_encodes_only_its_phrase() -> None:
    line = header_line("List-Id", "Café nieuws <cafe-news.crm.example>")
    assert line.endswith(" <cafe-news.crm.example>")
    message = parse((line + "\r\n\r\nbody\r\n").encode())
    assert str(message["List-Id"]) == "Café nieuws <cafe-news.crm.example>"
