"""Distribution API errors, rendered as `{"errors": [{"code", "message", "detail"}]}`."""

from django.http import JsonResponse

STATUS = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "TAG_INVALID": 400,
    "PAGINATION_NUMBER_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "RANGE_INVALID": 416,
    "TOOMANYREQUESTS": 429,
}


class RegistryError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        detail: object = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status or STATUS[code]
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        body = {"errors": [{"code": self.code, "message": self.message, "detail": self.detail}]}
        response = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response
