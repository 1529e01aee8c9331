"""WSGI entry point: `gunicorn wsgi:app`, and `flask --app wsgi ...` for commands."""

from dotenv import load_dotenv

load_dotenv()

from consentapp import create_app  # noqa: E402

app = create_app()
