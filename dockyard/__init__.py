"""The Django project: settings, URLs, the ASGI app, the Celery app and process entry points.

The Celery app is loaded with the settings (at the end of settings.py) rather than here: the
launcher and a joined node's supervisor import this package with the standard library only.
"""
