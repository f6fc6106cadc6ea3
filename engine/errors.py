"""Errors a user can cause, each rendered as Docker's `{"message": ...}` with its status."""

from django.http import JsonResponse


class ApiError(Exception):
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def response(self) -> JsonResponse:
        return error_response(self.status, self.message)


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


class Unavailable(ApiError):
    status = 503


def error_response(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


# Runtime errors travel from the worker by class name; this is their HTTP meaning.
RUNTIME_KINDS: dict[str, type[ApiError]] = {
    "NotFound": NotFound,
    "Conflict": Conflict,
    "InvalidInput": BadRequest,
    "DigestMismatch": BadRequest,
    "RuntimeFailure": ApiError,
}
