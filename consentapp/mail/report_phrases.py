"""The words bounce reports are recognised by: what makes a failure hard or soft, and
what marks a mail as an auto-reply, a bounce or a delay notice (English, Dutch, French,
German). Patterns have no nested repeats, so they run in linear time.
"""

from __future__ import annotations

import re

# Mailbox full is a temporary condition, whatever code the server chose (5.2.2 included).
QUOTA_PHRASES = (
    "mailbox full",
    "mailbox is full",
    "mailbox has exceeded",
    "over quota",
    "overquota",
    "quota exceeded",
    "exceeded storage",
    "exceeded its storage",
    "out of storage",
    "insufficient storage",
    "mailbox vol",
    "postvak vol",
    "postvak is vol",
    "boîte pleine",
    "boite pleine",
    "boîte aux lettres pleine",
    "quota dépassé",
    "postfach voll",
    "postfach ist voll",
    "speicherplatz",
)
# A refusal of our mail rather than of the address: the sender's reputation, policy,
# authentication or content. Never a reason to stop mailing the address for good.
POLICY_PHRASES = (
    "spam",
    "blocked",
    "blacklist",
    "black list",
    "blocklist",
    "block list",
    "listed at",
    "listed on",
    "policy",
    "dmarc",
    "spf",
    "dkim",
    "reputation",
    "rate limit",
    "too many",
    "virus",
    "content rejected",
    "message rejected",
)

SOFT_PHRASES = (
    *QUOTA_PHRASES,
    "try again later",
    "try later",
    "temporarily",
    "temporary",
    "greylist",
    "graylist",
    "too many connections",
    "rate limit",
    "deferred",
    "timed out",
    "probeer het later",
    "tijdelijk",
    "réessayer plus tard",
    "temporaire",
    "später erneut",
    "vorübergehend",
)
HARD_PHRASES = (
    "user unknown",
    "unknown user",
    "unknown recipient",
    "recipient unknown",
    "address unknown",
    "unknown address",
    "no such user",
    "no such recipient",
    "no such mailbox",
    "no mailbox here",
    "mailbox not found",
    "mailbox does not exist",
    "does not exist",
    "doesn't exist",
    "doesn't have a",
    "address rejected",
    "recipient rejected",
    "unrouteable",
    "unroutable",
    "account disabled",
    "account is disabled",
    "account has been disabled",
    "account has been deactivated",
    "mailbox is disabled",
    "recipient not found",
    "recipientnotfound",
    "user not found",
    "invalid recipient",
    "invalid mailbox",
    "not a valid mailbox",
    "not listed in domino",
    "not listed in public name",
    "no such domain",
    "host unknown",
    "domain not found",
    "gebruiker onbekend",
    "onbekende gebruiker",
    "onbekende ontvanger",
    "adres onbekend",
    "onbekend adres",
    "bestaat niet",
    "ongeldig adres",
    "utilisateur inconnu",
    "destinataire inconnu",
    "adresse inconnue",
    "adresse invalide",
    "n'existe pas",
    "introuvable",
    "benutzer unbekannt",
    "unbekannter benutzer",
    "empfänger unbekannt",
    "unbekannter empfänger",
    "existiert nicht",
    "ungültige adresse",
)

AUTO_REPLY_SUBJECT = re.compile(
    r"out of (?:the )?office|automatic reply|auto[- ]?reply|auto[- ]?response|autorespond"
    r"|on vacation|vacation|on holiday|away from (?:the office|my desk)|afwezig|afwezigheid"
    r"|automatisch antwoord|niet aanwezig|absence|absent\b|réponse automatique"
    r"|abwesenheit|abwesend|automatische antwort|ausser haus|außer haus",
    re.IGNORECASE,
)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|mail delivery failed|delivery status notification \(failure\)"
    r"|delivery failure|delivery failed|delivery has failed|returned mail|returned to sender"
    r"|failure notice|mail system error|non[- ]?delivery|nondeliverable|could not be delivered"
    r"|onbestelbaar|niet bezorgd|non remis|unzustellbar|nicht zustellbar",
    re.IGNORECASE,
)
BOUNCE_SENDER = re.compile(
    r"mailer-daemon|postmaster|mail delivery subsystem|mail delivery system|mail administrator",
    re.IGNORECASE,
)
DELAYED = re.compile(
    r"delivery status notification \(delay\)|\bdelayed\b|has not yet been delivered"
    r"|will (?:continue to|keep trying|retry)|not been delivered yet"
    r"|could not send message for past"
    r"|no action is required on your part|still trying",
    re.IGNORECASE,
)
FAILURE_SIGN = re.compile(
    r"could not be delivered|couldn't be delivered|wasn't able to deliver|unable to deliver"
    r"|delivery (?:has )?failed|failed to deliver|permanent(?:ly)? (?:error|fatal|failure)"
    r"|undeliverable|returned to sender|did not reach|delivery to the following"
    r"|address\(es\) failed"
    r"|niet worden bezorgd|niet afgeleverd|n'a pas pu être remis|konnte nicht zugestellt",
    re.IGNORECASE,
)
