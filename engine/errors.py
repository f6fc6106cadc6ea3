"""Errors a user can cause, each rendered as Docker's `{"message": ...}` with its status."""

from django.http import JsonResponse


class ApiError(Exception):
    status = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        response = error_response(self.status, self.message)
        for name, value in self.headers.items():
            response[name] = value
        return response


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class Conflict(ApiError):
    status = 409


class TooManyRequests(ApiError):
    status = 429


class Unavailable(ApiError):
    status = 503


def error_response(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


# Runtime errors travel from the worker by class name; this is their HTTP meaning.
RUNTIME_KINDS: dict[str, type[ApiError]] = {
    "NotFound": NotFound,
    "Conflict": Conflict,
    "Forbidden": Forbidden,
    "InvalidInput": BadRequest,
    "DigestMismatch": BadRequest,
    "RuntimeFailure": ApiError,
}
