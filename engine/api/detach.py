"""The detach keys an attach or exec asks for, checked as dockerd checks them."""

from django.http import HttpRequest

from ..errors import BadRequest
from ..streams.escape import parse_detach_keys


def check_detach_keys(text: str, refusal: str) -> bytes:
    """The key codes of `text` ("" for Docker's default, ctrl-p ctrl-q); 400 if malformed."""
    if not text:
        return b""
    try:
        return parse_detach_keys(text)
    except ValueError:
        raise BadRequest(refusal.format(text)) from None


def detach_keys(request: HttpRequest, default: str, refusal: str) -> list[int]:
    """The `detachKeys` query, else `default`, as the key codes a hijack spec carries."""
    return list(check_detach_keys(request.GET.get("detachKeys") or default, refusal))
