"""Who may do what in the staff area: the one table of roles, permissions and endpoints.

`ROLE_PERMISSIONS` says what each role may do; `ENDPOINT_PERMISSIONS` says what each
staff endpoint (per method, or per action) needs. The staff blueprint checks both
before every request and refuses to start with an endpoint missing from the table.
Services that mail subscribers or decide what a person is told check the same table
again, so a script calling them with a staff account is refused too. The README's
permission table is this one in prose; tests/test_permissions.py holds its own copy
and fails when either side changes alone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from consentapp.models import Role, StaffUser


class Permission(enum.StrEnum):
    """One thing a role may do; endpoints name the one they need."""

    OWN_ACCOUNT = "own_account"  # dashboard, own password and second factor, logout
    CONTACTS_VIEW = "contacts_view"
    CONTACTS_EDIT = "contacts_edit"  # rectify, unsubscribe on the person's behalf
    CONSENT_RECORD = "consent_record"
    CONTACTS_IMPORT = "contacts_import"
    CONTACTS_EXPORT = "contacts_export"
    INQUIRIES = "inquiries"
    REQUESTS = "requests"  # data-subject requests and art. 19 follow-ups
    DISCLOSURE_VIEW = "disclosure_view"  # the register and its CSV
    DISCLOSURE_RECORD = "disclosure_record"
    DISCLOSURE_APPROVE = "disclosure_approve"
    DISCLOSURE_WITHHOLD = "disclosure_withhold"  # keep out of (or put back in) the access copy
    REGISTER_VIEW = "register_view"  # record of processing and its exports
    REGISTER_EDIT = "register_edit"
    NOTICES_PUBLISH = "notices_publish"
    CAMPAIGN_WRITE = "campaign_write"  # write, preview, test to oneself, submit, withdraw
    CAMPAIGN_PAUSE = "campaign_pause"  # the emergency brake: nothing goes out
    CAMPAIGN_SEND = "campaign_send"  # approve: send now or schedule; resume
    CAMPAIGN_CANCEL = "campaign_cancel"
    ACCOUNTS = "accounts"
    SETTINGS = "settings"
    AUDIT_LOG = "audit_log"
    WEBHOOKS = "webhooks"  # outgoing webhook endpoints and their delivery logs
    API_TOKENS = "api_tokens"  # create, list and revoke REST API tokens


P = Permission

ROLE_PERMISSIONS: Mapping[str, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.STAFF: frozenset(
        {
            P.OWN_ACCOUNT,
            P.CONTACTS_VIEW,
            P.CONTACTS_EDIT,
            P.CONSENT_RECORD,
            P.CONTACTS_IMPORT,
            P.CONTACTS_EXPORT,
            P.INQUIRIES,
            P.REQUESTS,
            P.DISCLOSURE_VIEW,
            P.DISCLOSURE_RECORD,
            P.REGISTER_VIEW,
            P.CAMPAIGN_WRITE,
            P.CAMPAIGN_PAUSE,
        }
    ),
}


def allows(user: StaffUser | None, permission: Permission) -> bool:
    """Whether an active account's role grants `permission` (an unknown role: nothing)."""
    if user is None or not user.is_active:
        return False
    return permission in ROLE_PERMISSIONS.get(user.role, frozenset())


class PermissionDenied(Exception):
    """A service was asked to act for an account whose role does not allow it."""


def require(user: StaffUser | None, permission: Permission) -> None:
    """Raise PermissionDenied unless `user` may do it (services call this too)."""
    if not allows(user, permission):
        raise PermissionDenied(permission.value)


@dataclass(frozen=True)
class Requirement:
    """What one endpoint needs: per HTTP method, or per value of its `action` argument.

    `open` marks the login steps, the only staff pages reachable without a session.
    """

    by_method: Mapping[str, Permission] = field(default_factory=dict)
    by_action: Mapping[str, Permission] = field(default_factory=dict)
    open: bool = False

    def permission_for(self, method: str, view_args: Mapping[str, Any] | None) -> Permission | None:
        """The permission a request needs; None when nothing may answer it."""
        if self.by_action:
            action = (view_args or {}).get("action")
            return self.by_action.get(action) if isinstance(action, str) else None
        return self.by_method.get("GET" if method in ("HEAD", "OPTIONS") else method)

    def permissions(self) -> set[Permission]:
        return set(self.by_method.values()) | set(self.by_action.values())


def every(permission: Permission) -> Requirement:
    """The same permission for GET and POST."""
    return Requirement(by_method={"GET": permission, "POST": permission})


def per_action(**actions: Permission) -> Requirement:
    """For `/<action>` endpoints: a permission per action; other actions are not found."""
    return Requirement(by_action={name.replace("_", "-"): p for name, p in actions.items()})


OPEN = Requirement(open=True)

ENDPOINT_PERMISSIONS: Mapping[str, Requirement] = {
    # Login steps and one's own account
    "staff.login": OPEN,
    "staff.login_totp": OPEN,
    "staff.logout": every(P.OWN_ACCOUNT),
    "staff.account": every(P.OWN_ACCOUNT),
    "staff.totp_setup": every(P.OWN_ACCOUNT),
    "staff.home": every(P.OWN_ACCOUNT),
    # Contacts, consent capture, import and export
    "staff.contacts": every(P.CONTACTS_VIEW),
    "staff.contact": every(P.CONTACTS_VIEW),
    "staff.edit_contact": every(P.CONTACTS_EDIT),
    "staff.unsubscribe_contact": every(P.CONTACTS_EDIT),
    "staff.clear_undeliverable": every(P.CONTACTS_EDIT),
    "staff.bounces": every(P.CONTACTS_VIEW),
    "staff.record_consent_view": every(P.CONSENT_RECORD),
    "staff.import_upload": every(P.CONTACTS_IMPORT),
    "staff.import_mapping": every(P.CONTACTS_IMPORT),
    "staff.export": every(P.CONTACTS_EXPORT),
    # Inquiries
    "staff.inquiries": every(P.INQUIRIES),
    "staff.inquiry": every(P.INQUIRIES),
    "staff.update_inquiry_view": every(P.INQUIRIES),
    "staff.add_note_view": every(P.INQUIRIES),
    "staff.apply_details_view": every(P.INQUIRIES),
    # Data-subject requests
    "staff.requests_queue": every(P.REQUESTS),
    "staff.request_detail": every(P.REQUESTS),
    "staff.request_action": every(P.REQUESTS),
    "staff.log_request_view": every(P.REQUESTS),
    "staff.follow_up_done": every(P.REQUESTS),
    # Disclosure register
    "staff.disclosures": every(P.DISCLOSURE_VIEW),
    "staff.disclosures_csv": every(P.DISCLOSURE_VIEW),
    "staff.new_disclosure": every(P.DISCLOSURE_RECORD),
    "staff.approve_disclosure": every(P.DISCLOSURE_APPROVE),
    "staff.withhold_disclosure": every(P.DISCLOSURE_WITHHOLD),
    "staff.release_disclosure": every(P.DISCLOSURE_WITHHOLD),
    # Record of processing, privacy notices
    "staff.register": every(P.REGISTER_VIEW),
    "staff.register_export": every(P.REGISTER_VIEW),
    "staff.edit_activity": every(P.REGISTER_EDIT),
    "staff.notices_view": every(P.NOTICES_PUBLISH),
    # Campaigns: staff prepare, an admin approves
    "staff.campaigns": every(P.CAMPAIGN_WRITE),
    "staff.campaign": every(P.CAMPAIGN_WRITE),
    "staff.campaign_progress": every(P.CAMPAIGN_WRITE),
    "staff.campaign_clicks_csv": every(P.CAMPAIGN_WRITE),
    "staff.new_campaign": every(P.CAMPAIGN_WRITE),
    "staff.edit_campaign": every(P.CAMPAIGN_WRITE),
    "staff.campaign_action": per_action(
        test=P.CAMPAIGN_WRITE,
        submit=P.CAMPAIGN_WRITE,
        withdraw=P.CAMPAIGN_WRITE,
        pause=P.CAMPAIGN_PAUSE,
        send=P.CAMPAIGN_SEND,
        resume=P.CAMPAIGN_SEND,
        cancel=P.CAMPAIGN_CANCEL,
    ),
    # Publishing in the public archive: who may send a campaign decides what is public.
    "staff.campaign_archive": Requirement(by_method={"POST": P.CAMPAIGN_SEND}),
    "staff.campaign_open_pixel": Requirement(by_method={"POST": P.CAMPAIGN_SEND}),
    # Asking subscribers again: staff see the rounds, an admin starts one or lets it lapse.
    "staff.repermissions": Requirement(
        by_method={"GET": P.CAMPAIGN_WRITE, "POST": P.CAMPAIGN_SEND}
    ),
    "staff.repermission": every(P.CAMPAIGN_WRITE),
    "staff.repermission_action": per_action(lapse=P.CAMPAIGN_SEND, close=P.CAMPAIGN_SEND),
    # Accounts, settings, audit log
    "staff.users": every(P.ACCOUNTS),
    "staff.user": every(P.ACCOUNTS),
    "staff.new_user": every(P.ACCOUNTS),
    "staff.user_action": every(P.ACCOUNTS),
    "staff.settings": every(P.SETTINGS),
    # The form for the company's own site: public HTML, no personal data.
    "staff.embed_form": every(P.OWN_ACCOUNT),
    "staff.audit_log": every(P.AUDIT_LOG),
    "staff.webhooks": every(P.WEBHOOKS),
    "staff.webhook": every(P.WEBHOOKS),
    "staff.send_webhook_again": every(P.WEBHOOKS),
    "staff.api_tokens": every(P.API_TOKENS),
    "staff.revoke_api_token": every(P.API_TOKENS),
    "staff.webhook_edit": every(P.WEBHOOKS),
    "staff.webhook_switch": every(P.WEBHOOKS),
    "staff.webhook_rotate_secret": every(P.WEBHOOKS),
    "staff.webhook_test": every(P.WEBHOOKS),
    "staff.webhook_delete": every(P.WEBHOOKS),
}


def requirement_for(endpoint: str | None) -> Requirement | None:
    """The table's entry for an endpoint; None for one the table does not name."""
    return ENDPOINT_PERMISSIONS.get(endpoint or "")


def undeclared(endpoints: Iterable[str], prefix: str = "staff.") -> list[str]:
    """Endpoints under `prefix` that the table does not name (each one a defect)."""
    return sorted(e for e in endpoints if e.startswith(prefix) and e not in ENDPOINT_PERMISSIONS)
