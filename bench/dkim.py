"""How many newsletter messages a second one process builds and DKIM-signs, next to
building them unsigned.

    .venv/bin/python -m bench.dkim [--count 2000] [--rounds 3]

Every path builds the same `count` personal newsletters (a text and an HTML part, a
one-click unsubscribe URL and a Message-ID of their own) with the worker's own
`Composer.message_bytes`, in one process, best of `rounds`:

- unsigned: no DKIM settings, the baseline;
- dkimpy RSA: the message built, then `dkim.sign` with a 2048-bit RSA key, as the
  worker signed before (RSA computed in Python);
- RSA: DKIM_DOMAIN, DKIM_SELECTOR and DKIM_KEY_PATH with a 2048-bit key (OpenSSL);
- Ed25519: an Ed25519 key alone (not a configuration the app accepts: RSA is always
  there too; measured to show what each half costs);
- Ed25519 + RSA: both keys, two signatures a message.

Writes bench/RESULTS-dkim.md. Not a test: nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from bench.campaign_data import dkim_settings
from consentapp.mail.dkim_sign import Signer, SigningKey
from consentapp.mail.transport import DKIM_HEADERS, Composer

PROJECT = Path(__file__).resolve().parent.parent
TEXT = "Beste lezer,\n\nDit is het nieuws van deze maand, met één verhaal per alinea.\n" * 30
HTML = "<p>Dit is het <strong>nieuws</strong> van deze maand, één verhaal per alinea.</p>\n" * 60


@dataclass
class Row:
    """An outbox row as the composer reads it."""

    id: int
    to_address: str
    message_id: str
    subject: str = "Nieuws van deze maand: één verhaal per alinea"
    body_text: str = TEXT
    body_html: str = HTML
    headers: dict[str, str] = field(default_factory=dict)


def rows(count: int) -> list[Row]:
    found = []
    for number in range(count):
        url = f"https://crm.example/unsubscribe/{number:08d}.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
        found.append(
            Row(
                id=number,
                to_address=f"reader{number}@example.be",
                message_id=f"<{number}.bench@crm.example>",
                headers={
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                    "List-Id": "Service news <service-news.crm.example>",
                    "Feedback-ID": "service-news:newsletter:bench:consentapp",
                },
            )
        )
    return found


def settings(**dkim_settings: str | None) -> dict[str, Any]:
    base: dict[str, Any] = {
        "MAIL_DEFAULT_SENDER": "CRM <news@crm.example>",
        "BOUNCE_DOMAIN": None,
        "DKIM_DOMAIN": None,
        "DKIM_SELECTOR": None,
        "DKIM_KEY_PATH": None,
        "DKIM_ED25519_SELECTOR": None,
        "DKIM_ED25519_KEY_PATH": None,
    }
    return base | dkim_settings


def rate(build: Callable[[Row], bytes], batch: list[Row], rounds: int) -> float:
    """Messages a second, best of `rounds`."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for row in batch:
            build(row)
        best = min(best, time.perf_counter() - started)
    return len(batch) / best


def measure(count: int, rounds: int, work: Path) -> dict[str, float]:
    modes = dkim_settings(work)
    rsa_pem = (work / "rsa.pem").read_bytes()
    ed_key = serialization.load_pem_private_key((work / "ed25519.pem").read_bytes(), None)
    assert isinstance(ed_key, ed25519.Ed25519PrivateKey)
    rsa_settings, dual_settings = modes["RSA"], modes["RSA+Ed25519"]
    unsigned = Composer(settings())
    signed = Composer(settings(**rsa_settings))
    dual = Composer(settings(**dual_settings))
    ed_only = Signer(b"crm.example", (SigningKey(b"news-ed", ed_key),))
    include = [name.encode() for name in DKIM_HEADERS]

    def by_dkimpy(row: Row) -> bytes:
        raw = unsigned.message_bytes(row)
        return (
            bytes(dkim.sign(raw, b"news", b"crm.example", rsa_pem, include_headers=include)) + raw
        )

    def by_ed25519(row: Row) -> bytes:
        raw = unsigned.message_bytes(row)
        return ed_only.sign(raw, DKIM_HEADERS) + raw

    batch = rows(count)
    # dkimpy is slow: a tenth of the messages gives the same rate in a tenth of the time.
    return {
        "unsigned": rate(unsigned.message_bytes, batch, rounds),
        "dkimpy RSA 2048": rate(by_dkimpy, batch[: max(count // 10, 50)], rounds),
        "RSA 2048": rate(signed.message_bytes, batch, rounds),
        "Ed25519": rate(by_ed25519, batch, rounds),
        "Ed25519 + RSA 2048": rate(dual.message_bytes, batch, rounds),
    }


def results(count: int, rounds: int, figures: dict[str, float]) -> str:
    base = figures["unsigned"]
    lines = [
        "# DKIM signing benchmark",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; "
        "one process, no SMTP, no database.",
        "",
        f"Command: `.venv/bin/python -m bench.dkim --count {count} --rounds {rounds}` "
        "(also `make bench`).",
        "",
        f"Each path builds {count:,} personal newsletters (text and HTML part, about 8 kB, "
        "a one-click unsubscribe URL each) with the worker's `Composer.message_bytes`, "
        f"best of {rounds} rounds; dkimpy on a tenth of them.",
        "",
        "| path | messages a second | ms a message | signing alone (ms) | ratio to unsigned |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, value in figures.items():
        alone = 1000 / value - 1000 / base
        lines.append(
            f"| {name} | {value:,.0f} | {1000 / value:.3f} | "
            f"{'' if name == 'unsigned' else f'{alone:.3f}'} | {value / base:.2f} |"
        )
    speedup = figures["RSA 2048"] / figures["dkimpy RSA 2048"]
    lines += [
        "",
        "How to read it:",
        "",
        "- **ratio to unsigned** compares building and signing with building alone, the "
        "strictest view: a real send also spends time on consent checks, the database and "
        "the SMTP exchange, so the share signing takes of a campaign is smaller than here.",
        "- **signing alone** is the difference to the unsigned path: what a signature adds "
        "to each message. Add it to the per-message time of an unsigned campaign "
        "(bench/RESULTS.md) to estimate the signed campaign's rate.",
        f"- RSA through OpenSSL signs {speedup:.1f} times as many messages a second as "
        "dkimpy's Python RSA; the rest of its cost is dkimpy's canonicalisation and "
        "header hashing, which both share.",
        "- Ed25519 costs a small part of RSA 2048; dual signing costs about RSA plus that.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="messages a path")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best one counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        figures = measure(args.count, args.rounds, Path(work))
    report = results(args.count, args.rounds, figures)
    (PROJECT / "bench" / "RESULTS-dkim.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
