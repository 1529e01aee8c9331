"""The wheel is the deployment: built from this checkout, installed into a fresh virtual
environment and run from a directory that is not the checkout, it migrates, seeds and
serves under gunicorn, in Dutch and English, with nothing else installed by hand.

Slow (it installs every dependency into the new environment), so it builds once per module.
"""

from __future__ import annotations

import gettext
import io
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.services import PROJECT_DIR, free_port

pytestmark = pytest.mark.slow


def _run(
    args: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure shows its output instead of a bare exit status."""
    result = subprocess.run(
        args, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )
    return result


def _without_checkout(environ: dict[str, str]) -> dict[str, str]:
    """The environment minus anything that would point Python at this checkout."""
    return {
        key: value
        for key, value in environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from this checkout (in an isolated build environment)."""
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(PROJECT_DIR),
        ],
        env=_without_checkout(dict(os.environ)),
    )
    (built,) = out.glob("consentapp-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with only the wheel and its declared dependencies."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(venv)])
    bin_dir = venv / "bin"
    _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        env=_without_checkout(dict(os.environ)),
        cwd=venv,
    )
    return bin_dir


@dataclass
class Deployment:
    """An installed app's configuration and the directory its commands run in."""

    bin_dir: Path
    workdir: Path
    env: dict[str, str]
    port: int

    def flask(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(
            [str(self.bin_dir / "flask"), "--app", "consentapp", *args],
            cwd=self.workdir,
            env=self.env,
            stdin=stdin,
        )


def _fresh_postgres_database(session_url: str, name: str) -> str:
    """A new, empty database on the test session's PostgreSQL server."""
    engine = sa.create_engine(session_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return sa.make_url(session_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(
    request: pytest.FixtureRequest, venv_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Deployment:
    """The production profile, set up by environment only, on an empty database."""
    workdir = tmp_path_factory.mktemp(f"site-{request.param}")
    assert PROJECT_DIR not in workdir.parents
    if request.param == "sqlite":
        database_url = f"sqlite:///{workdir / 'consentapp.sqlite3'}"
    else:
        database_url = _fresh_postgres_database(
            request.getfixturevalue("postgres_url"), "consentapp_wheel"
        )
    port = free_port()
    env = {
        "PATH": f"{venv_bin}{os.pathsep}{os.defpath}",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "CONSENTAPP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "BASE_URL": f"http://127.0.0.1:{port}",
    }
    return Deployment(venv_bin, workdir, env, port)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


@pytest.fixture(scope="module")
def served(deployment: Deployment) -> Iterator[str]:
    """Migrate, seed and start `gunicorn 'consentapp:create_app()'`; yields its base URL."""
    deployment.flask("db", "upgrade")
    deployment.flask("seed")
    log = (deployment.workdir / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            str(deployment.bin_dir / "gunicorn"),
            "--bind",
            f"127.0.0.1:{deployment.port}",
            "--workers",
            "1",
            "consentapp:create_app()",
        ],
        cwd=deployment.workdir,
        env=deployment.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = deployment.env["BASE_URL"]
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (deployment.workdir / "gunicorn.log").read_text()
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (deployment.workdir / "gunicorn.log").read_text()
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_wheel_carries_configuration_catalogs_templates_static_and_migrations(
    wheel: Path,
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for required in [
        "consentapp/__init__.py",
        "consentapp/config.py",
        "consentapp/translations/nl/LC_MESSAGES/messages.mo",
        "consentapp/translations/en/LC_MESSAGES/messages.mo",
        "consentapp/templates/base.html",
        "consentapp/templates/public/home.html",
        "consentapp/static/css/app.css",
        "consentapp/migrations/env.py",
        "consentapp/migrations/alembic.ini",
        "consentapp/migrations/versions/0001_foundation.py",
    ]:
        assert required in names, f"{required} is missing from {wheel.name}"
    versions = {p.name for p in (PROJECT_DIR / "migrations" / "versions").glob("*.py")}
    shipped = {Path(n).name for n in names if n.startswith("consentapp/migrations/versions/")}
    assert versions <= shipped
    with zipfile.ZipFile(wheel) as archive:
        compiled = archive.read("consentapp/translations/nl/LC_MESSAGES/messages.mo")
    dutch = gettext.GNUTranslations(io.BytesIO(compiled))
    assert dutch.gettext("Stay in touch with %(org)s") == "Blijf in contact met %(org)s"


def test_the_installed_package_is_imported_not_the_checkout(deployment: Deployment) -> None:
    result = _run(
        [str(deployment.bin_dir / "python"), "-c", "import consentapp; print(consentapp.__file__)"],
        cwd=deployment.workdir,
        env=deployment.env,
    )
    location = Path(result.stdout.strip())
    assert "site-packages" in location.parts
    assert PROJECT_DIR not in location.parents


def test_installed_commands_migrate_seed_and_manage_staff_from_any_directory(
    deployment: Deployment, served: str
) -> None:
    assert "(head)" in deployment.flask("db", "current").stdout
    assert "Topics added: 0." in deployment.flask("seed").stdout, "seed is safe to run again"
    created = deployment.flask(
        "create-staff",
        "admin@example.be",
        "--role",
        "admin",
        "--name",
        "Ada Admin",
        "--password-stdin",
        stdin="Correct-horse-battery-staple-42\n",
    )
    assert "admin@example.be" in created.stdout
    assert "Audit log intact" in deployment.flask("audit-verify").stdout


def test_gunicorn_serves_the_installed_app_in_dutch_and_english(served: str) -> None:
    status, health = _get(f"{served}/healthz")
    assert status == 200 and '"database":"ok"' in health.replace(" ", "")

    for path in ["/", "/?lang=nl"]:
        status, page = _get(f"{served}{path}")
        assert status == 200
        assert '<html lang="nl">' in page
        assert "Blijf in contact met" in page, f"{path} is not in Dutch"
        assert "Stay in touch with" not in page

    status, page = _get(f"{served}/?lang=en")
    assert status == 200
    assert '<html lang="en">' in page
    assert "Stay in touch with" in page

    status, css = _get(f"{served}/static/css/app.css")
    assert status == 200 and css.strip()


def test_a_broken_translation_fails_the_build_instead_of_shipping(tmp_path: Path) -> None:
    """A Dutch text that loses a placeholder would break the page it is on: no wheel."""
    source = tmp_path / "source"
    shutil.copytree(
        PROJECT_DIR,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "instance", "__pycache__", ".*_cache", "*.mo", "test-artifacts"
        ),
    )
    catalog = source / "consentapp/translations/nl/LC_MESSAGES/messages.po"
    text = catalog.read_text(encoding="utf-8")
    broken = text.replace(
        'msgstr "Blijf in contact met %(org)s"', 'msgstr "Blijf in contact met %(organisatie)s"'
    )
    assert broken != text
    catalog.write_text(broken, encoding="utf-8")
    out = tmp_path / "wheel"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(source)],
        env=_without_checkout(dict(os.environ)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "unknown named placeholder 'organisatie'" in result.stdout + result.stderr
    assert not list(out.glob("*.whl"))
