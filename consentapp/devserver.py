"""`make run`: the mail sink, the bounce server, the worker and the web server together,
stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from dotenv import find_dotenv, load_dotenv

from consentapp.config import DevelopmentConfig

WEB_HOST = "127.0.0.1"
WEB_PORT = "5000"


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def staff_login_line() -> str:
    """How to log in to the staff area, if `flask bootstrap-admin` created the account."""
    instance = Path(os.environ.get("CONSENTAPP_INSTANCE", Path.cwd() / "instance"))
    saved = instance / "dev-admin-login"
    if not saved.exists():
        return ""
    email, password = saved.read_text().split()[:2]
    url = f"http://{WEB_HOST}:{WEB_PORT}/staff/login"
    return f"  Staff area: {url}  e-mail {email}  password {password}\n"


MAILBOX_URL = f"http://{WEB_HOST}:{WEB_PORT}/dev/mail"

# What the site says about the organisation until these are set (config.py).
ORG_SETTINGS = (
    ("ORG_NAME", 'the organisation\'s name on every page and mail (now "CRM")'),
    ("ORG_ADDRESS", "its postal address, in the footer and every newsletter"),
    ("ORG_EMAIL", "the privacy contact and the sender of the mails"),
)


def org_settings_lines(env: dict[str, str]) -> str:
    """Which ORG_* settings still show the placeholders, with what each one is for."""
    unset = [(name, meaning) for name, meaning in ORG_SETTINGS if not env.get(name)]
    if not unset:
        return ""
    lines = "".join(f"    {name}  {meaning}\n" for name, meaning in unset)
    return "  The site shows placeholders until you set (environment or .env):\n" + lines


def main() -> int:
    """Start the four processes; end all of them when one ends or on Ctrl-C."""
    load_dotenv(find_dotenv(usecwd=True))  # as the app itself reads its settings
    env = dict(os.environ)
    env.setdefault("CONSENTAPP_ENV", "development")
    env.setdefault("PYTHONUNBUFFERED", "1")
    sink_port = env.setdefault("MAIL_PORT", "8025")
    env.setdefault("MAIL_SERVER", "127.0.0.1")
    bounce_domain = env.get("BOUNCE_DOMAIN") or DevelopmentConfig.DEFAULT_BOUNCE_DOMAIN
    bounce_host = env.get("BOUNCE_SERVER_HOST") or "127.0.0.1"
    bounce_port = env.get("BOUNCE_SERVER_PORT") or "2525"
    commands = {
        "mail sink": _flask("mail-sink", "--port", sink_port, "--mailbox-url", MAILBOX_URL),
        "bounce server": _flask("bounce-server", "--host", bounce_host, "--port", bounce_port),
        "worker": _flask("worker"),
        "web": _flask("run", "--host", WEB_HOST, "--port", WEB_PORT, "--no-reload"),
    }
    processes = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}  # noqa: S603
    # A SIGTERM (not only Ctrl-C) stops the children too: none is left holding the port.
    signal.signal(signal.SIGTERM, _interrupt)
    time.sleep(1.5)
    print(
        "\n"
        f"  consentapp is running on http://{WEB_HOST}:{WEB_PORT}\n"
        f"  Mail goes to the local sink on port {sink_port}; one line per mail is printed here.\n"
        f"  Bounces and complaints for {bounce_domain} go to the bounce server on "
        f"{bounce_host}:{bounce_port}.\n"
        f"{staff_login_line()}"
        f"  Mailbox (every mail sent, with its links): {MAILBOX_URL}\n"
        f"{org_settings_lines(env)}"
        "  Press Ctrl-C to stop.\n",
        flush=True,
    )
    try:
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    failed = [name for name, process in processes.items() if process.returncode not in (0, -15)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
