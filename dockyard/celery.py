import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockyard.settings")
# A worker would run Django's system checks at start, which import every URL conf, view and
# admin module, held in its memory for good though it never runs them. The control plane's
# `manage.py migrate`, run before every start, runs the checks.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("dockyard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
