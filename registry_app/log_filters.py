"""Which of the registry's refusals are the protocol at work rather than something to warn of."""

import logging


class RegistryHandshakes(logging.Filter):
    """Keeps django.request from warning of the registry's handshake answers.

    Every client first asks without credentials and is told where tokens come from (401), and
    a push asks with HEAD whether each blob is there yet (404). Logged as warnings, each pull
    and push would write such lines and bury the real ones. Refused credentials, denied
    access and every other error are still logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        status = getattr(record, "status_code", None)
        if request is None or not request.path.startswith("/v2/"):
            return True
        if status == 401 and "HTTP_AUTHORIZATION" not in request.META:
            return False
        return not (status == 404 and request.method == "HEAD")
