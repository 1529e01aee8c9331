"""Entry point for Celery workers: `celery -A consentapp.celery_worker worker --beat`."""

from dotenv import load_dotenv

load_dotenv()

from consentapp import create_app  # noqa: E402
from consentapp.tasks import init_celery  # noqa: E402

flask_app = create_app()
celery = init_celery(flask_app)
