"""The `staff` and `audit` command groups, and the older names operators still use."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from consentapp.cli import ALIASES
from tests.conftest import log_in
from tests.helpers import post_form


@pytest.mark.parametrize(
    ("args", "email"),
    [(["staff", "create"], "grouped@crm.example"), (["create-staff"], "old@crm.example")],
)
def test_staff_create_under_both_names(
    app: Flask, runner: Any, args: list[str], email: str
) -> None:
    result = runner.invoke(
        args=[*args, email, "--role", "staff", "--password-stdin"],
        input="a-password-from-stdin\n",
    )
    assert result.exit_code == 0, result.output
    assert f"Created staff account {email}." in result.output
    log_in(app.test_client(), email, "a-password-from-stdin")


@pytest.mark.parametrize("args", [["staff", "unlock"], ["unlock-staff"]])
def test_staff_unlock_under_both_names(
    app: Flask, runner: Any, staff_id: int, args: list[str]
) -> None:
    for _ in range(5):
        post_form(
            app.test_client(), "/staff/login", {"email": "staff@crm.example", "password": "wrong"}
        )
    result = runner.invoke(args=[*args, "staff@crm.example"])
    assert result.exit_code == 0, result.output
    log_in(app.test_client(), "staff@crm.example")


def test_audit_commands_answer_the_same_under_both_names(app: Flask, runner: Any) -> None:
    grouped = runner.invoke(args=["audit", "verify"])
    old = runner.invoke(args=["audit-verify"])
    assert grouped.exit_code == old.exit_code == 0, grouped.output
    assert grouped.output == old.output and "Audit log intact" in old.output
    fingerprint = runner.invoke(args=["audit", "fingerprint", "Els"]).output
    assert fingerprint == runner.invoke(args=["audit-fingerprint", "Els"]).output
    assert fingerprint.strip()


def test_bootstrap_admin_under_both_names(app: Flask, runner: Any) -> None:
    grouped = runner.invoke(args=["staff", "bootstrap-admin"])
    old = runner.invoke(args=["bootstrap-admin"])
    assert grouped.exit_code == old.exit_code, grouped.output
    assert grouped.output == old.output and "Staff login:" in old.output


def test_every_old_name_says_which_command_it_is() -> None:
    names = {command.name: command.help or "" for command in ALIASES}
    assert set(names) == {
        "create-staff",
        "unlock-staff",
        "bootstrap-admin",
        "audit-verify",
        "audit-fingerprint",
    }
    assert names["create-staff"].startswith("Same as `staff create`")
    assert names["audit-verify"].startswith("Same as `audit verify`")
    assert all(text.startswith("Same as `") for text in names.values())
