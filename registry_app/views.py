"""The OCI Distribution API under /v2/ and the token service at /auth/token."""

import functools
import json
import re
from urllib.parse import urlencode

from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.actors import acting
from accounts.auth import client_address, parse_basic
from accounts.errors import TooManyAttempts
from accounts.services import check_basic, check_secret

from . import storage
from .access import Access, authenticate, challenge, require, require_catalog, too_many_attempts
from .body_stream import body_reader
from .errors import RegistryError
from .manifests import MAX_MANIFEST, OCI_INDEX
from .names import check_digest, check_name
from .permissions import DELETE, PULL, PUSH
from .services import blobs, manifests, repositories, tokens, uploads
from .tokens import SERVICE

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
MAX_PAGE = 1000
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def registry_view(methods: tuple[str, ...]):
    """Thin HTTP wrapper: method check, credentials, name syntax, errors as distribution JSON."""

    def wrap(view):
        @csrf_exempt
        @functools.wraps(view)
        def handler(request: HttpRequest, **kwargs) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise RegistryError(
                        "UNSUPPORTED", f"{request.method} is not supported here", status=405
                    )
                if "name" in kwargs:
                    check_name(kwargs["name"])
                access = authenticate(request)
                # Audit entries written by model signals (a tag deleted) name this actor.
                with acting(access.actor):
                    response = view(request, access, **kwargs)
            except RegistryError as e:
                response = e.response()
            except RequestAborted:
                # The client is gone; the answer is for the log, and the upload is as it was.
                response = RegistryError(
                    "BLOB_UPLOAD_INVALID", "the request body ended early"
                ).response()
            for header, value in API_VERSION.items():
                response[header] = value
            return response

        return handler

    return wrap


def _empty(status: int, headers: dict[str, str]) -> HttpResponse:
    response = HttpResponse(status=status)
    response["Content-Length"] = "0"
    for name, value in headers.items():
        response[name] = value
    return response


def _page_args(request: HttpRequest) -> tuple[int | None, str]:
    raw = request.GET.get("n")
    n = None
    if raw is not None:
        if not raw.isdigit():
            raise RegistryError("PAGINATION_NUMBER_INVALID", "n must be a whole number", {"n": raw})
        n = min(int(raw), MAX_PAGE)
    return n, request.GET.get("last", "")


def _link(path: str, n: int, last: str) -> str:
    return f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'


@registry_view(("GET", "HEAD"))
def base(request: HttpRequest, access: Access) -> HttpResponse:
    if not access.authenticated:
        raise RegistryError("UNAUTHORIZED", "authentication required", headers=challenge(request))
    return JsonResponse({})


@registry_view(("GET",))
def catalog(request: HttpRequest, access: Access) -> HttpResponse:
    require_catalog(request, access)
    n, last = _page_args(request)
    names, more = repositories.list_catalog(access.actor, n, last)
    response = JsonResponse({"repositories": names})
    if more:
        response["Link"] = _link("/v2/_catalog", n, names[-1])
    return response


@registry_view(("GET",))
def tags_list(request: HttpRequest, access: Access, name: str) -> HttpResponse:
    require(request, access, name, [PULL])
    repository = repositories.require_repository(name)
    n, last = _page_args(request)
    tags, more = repositories.list_tags(repository, n, last)
    response = JsonResponse({"name": name, "tags": tags})
    if more:
        response["Link"] = _link(f"/v2/{name}/tags/list", n, tags[-1])
    return response


@registry_view(("GET", "HEAD", "PUT", "DELETE"))
def manifest(request: HttpRequest, access: Access, name: str, reference: str) -> HttpResponse:
    if request.method == "PUT":
        require(request, access, name, [PULL, PUSH])
        return _put_manifest(request, access, name, reference)
    if request.method == "DELETE":
        require(request, access, name, [DELETE])
        manifests.do_delete_manifest(repositories.require_repository(name), reference)
        return _empty(202, {})
    require(request, access, name, [PULL])
    found = manifests.get_manifest(name, reference)
    headers = {
        "Content-Type": found.media_type,
        "Docker-Content-Digest": found.digest,
        "ETag": f'"{found.digest}"',
    }
    if request.method == "HEAD":
        response = _empty(200, headers)
        response["Content-Length"] = str(found.size)
        return response
    response = HttpResponse(bytes(found.content))
    for header, value in headers.items():
        response[header] = value
    return response


def _put_manifest(request: HttpRequest, access: Access, name: str, reference: str):
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_MANIFEST:
        raise RegistryError(
            "SIZE_INVALID", "manifest is larger than 4 MiB", {"limit": MAX_MANIFEST}, status=413
        )
    content = request.read(MAX_MANIFEST + 1)
    repository = repositories.repository_for_push(name)
    stored = manifests.do_put_manifest(
        repository, reference, request.headers.get("Content-Type", ""), content, access.user
    )
    headers = {
        "Location": f"/v2/{name}/manifests/{stored.digest}",
        "Docker-Content-Digest": stored.digest,
    }
    if stored.subject_digest:
        headers["OCI-Subject"] = stored.subject_digest
    return _empty(201, headers)


@registry_view(("GET", "HEAD", "DELETE"))
def blob(request: HttpRequest, access: Access, name: str, digest: str) -> HttpResponse:
    check_digest(digest)
    if request.method == "DELETE":
        require(request, access, name, [DELETE])
        blobs.do_unlink_blob(repositories.require_repository(name), digest)
        return _empty(202, {})
    require(request, access, name, [PULL])
    found = blobs.linked_blob(name, digest)
    headers = {
        "Content-Type": "application/octet-stream",
        "Docker-Content-Digest": found.digest,
        "ETag": f'"{found.digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    }
    start, length, status = 0, found.size, 200
    wanted = request.headers.get("Range")
    if wanted:
        start, length = _byte_range(wanted, found.size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{found.size}"
    if request.method == "HEAD":
        response = _empty(status, headers)
        response["Content-Length"] = str(length)
        return response
    path = storage.blob_path(found.digest)
    if isinstance(request, ASGIRequest):
        # Django would buffer a synchronous iterator whole before serving it over ASGI.
        try:
            chunks = storage.BlobStream(path, start, length)
        except FileNotFoundError:
            # Unlinked and collected since the lookup.
            raise blobs.blob_unknown(digest) from None
    else:
        chunks = storage.iter_file(path, start, length)
    response = StreamingHttpResponse(chunks, status=status)
    response["Content-Length"] = str(length)
    for header, value in headers.items():
        response[header] = value
    return response


def _byte_range(value: str, size: int) -> tuple[int, int]:
    """(start, length) of a single `bytes=` range within a blob of `size` bytes."""
    match = _RANGE.fullmatch(value.strip())
    refused = RegistryError(
        "RANGE_INVALID",
        "requested range not satisfiable",
        {"range": value[:100]},
        headers={"Content-Range": f"bytes */{size}"},
    )
    if not match or match.groups() == ("", ""):
        raise refused
    first, last = match.groups()
    if first == "":
        length = min(int(last), size)
        if length == 0:
            raise refused
        return size - length, length
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise refused
    return start, end - start + 1


def _upload_headers(name: str, upload, size: int) -> dict[str, str]:
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload.uuid}",
        "Range": uploads.range_header(size),
        "Docker-Upload-UUID": str(upload.uuid),
    }


def _blob_created(name: str, digest: str) -> HttpResponse:
    return _empty(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})


@registry_view(("POST",))
def upload_start(request: HttpRequest, access: Access, name: str) -> HttpResponse:
    require(request, access, name, [PULL, PUSH])
    mount, source = request.GET.get("mount"), request.GET.get("from")
    digest = request.GET.get("digest")
    repository = repositories.repository_for_push(name)
    if mount and source:
        check_digest(mount)
        source_repo = None
        try:
            if access.may(check_name(source), PULL):
                source_repo = repositories.get_repository(source)
        except RegistryError:
            source_repo = None
        if source_repo is not None and blobs.do_mount_blob(repository, mount, source_repo):
            return _blob_created(name, mount)
    elif digest:
        stored = blobs.do_upload_blob(repository, digest, body_reader(request))
        return _blob_created(name, stored.digest)
    upload = uploads.do_start_upload(repository)
    return _empty(202, _upload_headers(name, upload, 0))


@registry_view(("GET", "PATCH", "PUT", "DELETE"))
def upload(request: HttpRequest, access: Access, name: str, upload_id: str) -> HttpResponse:
    require(request, access, name, [PULL, PUSH])
    session = uploads.get_upload(repositories.require_repository(name), upload_id)
    if request.method == "GET":
        return _empty(204, _upload_headers(name, session, uploads.upload_size(session)))
    if request.method == "DELETE":
        uploads.do_cancel_upload(session)
        return _empty(204, {})
    content_range = _content_range(request, session)
    if request.method == "PATCH":
        size = uploads.do_append_upload(session, body_reader(request), content_range)
        return _empty(202, _upload_headers(name, session, size))
    digest = request.GET.get("digest")
    if not digest:
        raise RegistryError("DIGEST_INVALID", "the digest parameter is required")
    check_digest(digest)
    uploads.do_append_upload(session, body_reader(request), content_range)
    stored = uploads.do_finish_upload(session, digest)
    return _blob_created(name, stored.digest)


def _content_range(request: HttpRequest, session) -> tuple[int, int] | None:
    value = request.headers.get("Content-Range")
    if not value:
        return None
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if not match or int(match.group(2)) < int(match.group(1)):
        size = uploads.upload_size(session)
        raise RegistryError(
            "RANGE_INVALID",
            "malformed Content-Range",
            {"range": value[:100]},
            headers={"Range": uploads.range_header(size), "Docker-Upload-UUID": str(session.uuid)},
        )
    return int(match.group(1)), int(match.group(2))


@registry_view(("GET",))
def referrers(request: HttpRequest, access: Access, name: str, digest: str) -> HttpResponse:
    check_digest(digest)
    require(request, access, name, [PULL])
    artifact_type = request.GET.get("artifactType", "")
    found = manifests.list_referrers(repositories.require_repository(name), digest, artifact_type)
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
    response = HttpResponse(json.dumps(body), content_type=OCI_INDEX)
    if artifact_type:
        response["OCI-Filters-Applied"] = "artifactType"
    return response


@registry_view(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"))
def unknown(request: HttpRequest, access: Access, **kwargs) -> HttpResponse:
    raise RegistryError("UNSUPPORTED", "no such registry endpoint", status=404)


@csrf_exempt
def token(request: HttpRequest) -> HttpResponse:
    """Docker's token endpoint: GET with Basic auth or none, or an OAuth2 password grant."""
    try:
        return _token(request)
    except TooManyAttempts as e:
        return too_many_attempts(e).response()


def _token(request: HttpRequest) -> HttpResponse:
    address = client_address(request)
    if request.method == "POST":
        params = request.POST
        if params.get("grant_type") != "password":
            return JsonResponse({"error": "unsupported_grant_type"}, status=400)
        actor = check_basic(params.get("username", ""), params.get("password", ""), address)
        if actor is None:
            return JsonResponse({"error": "invalid_grant"}, status=401)
        scopes = " ".join(params.getlist("scope")).split()
    elif request.method == "GET":
        params = request.GET
        actor = None
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() == "basic":
            pair = parse_basic(value)
            actor = check_basic(*pair, address=address) if pair else None
        elif scheme.lower() == "bearer":
            actor = check_secret(value.strip())
        if scheme and actor is None:
            error = RegistryError("UNAUTHORIZED", "invalid username or password")
            response = error.response()
            response["WWW-Authenticate"] = f'Basic realm="{SERVICE}"'
            return response
        scopes = [s for raw in params.getlist("scope") for s in raw.split(" ") if s]
    else:
        return RegistryError("UNSUPPORTED", "use GET or POST", status=405).response()
    service = params.get("service")
    if service and service != SERVICE:
        return RegistryError(
            "UNSUPPORTED", f"unknown service {service[:100]!r}", status=400
        ).response()
    body = tokens.do_issue_token(actor, scopes)
    if request.method == "POST":
        body = {k: body[k] for k in ("access_token", "expires_in", "issued_at")}
        body["scope"] = " ".join(scopes)
    return JsonResponse(body)
