"""The one limit on mail a visitor can make us send to an address: three an hour.

Every form that mails a link or an acknowledgement to a typed address (subscribe,
preferences link, e-mail change, data request, contact form) asks here, so nobody
can use the site to flood someone's inbox, and the rule has one number.
"""

from __future__ import annotations

from datetime import timedelta

from consentapp.mail.outbox import recent_mail_count

MAILS_PER_HOUR = 3
WINDOW = timedelta(hours=1)


def may_mail(address: str, kinds: str | tuple[str, ...]) -> bool:
    """Whether another mail of `kinds` may go to `address` within the hourly limit."""
    return recent_mail_count(address, kinds, WINDOW) < MAILS_PER_HOUR
