"""HTTP to one registry: requests carrying the right token, manifests, blobs and uploads."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO
from urllib.parse import urlencode

import urllib3

from runtime.errors import DigestMismatch, InvalidInput, NotFound
from runtime.store.blobs import sha256_digest

from .auth import Challenge, Credentials, parse_challenge, scope_key
from .errors import AccessDenied, AuthenticationFailed, RegistryFailure, RegistryUnreachable
from .names import base_url

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
MAX_MANIFEST = 4 * 1024 * 1024
# Blobs up to this size go up in one PUT; larger ones in PATCH chunks of UPLOAD_CHUNK.
MONOLITHIC_LIMIT = 64 * 1024 * 1024
UPLOAD_CHUNK = 32 * 1024 * 1024
_READ = 1 << 20
_TOKEN_MARGIN = 10.0

Body = bytes | Callable[[], Iterable[bytes]] | None


def _retries() -> urllib3.Retry:
    # Only failures before anything was sent are retried here; broken downloads resume above.
    return urllib3.Retry(
        total=6, connect=3, read=0, status=0, other=0, redirect=5, backoff_factor=0.2
    )


class RegistryClient:
    """One registry, one set of credentials; safe to share between transfer threads."""

    def __init__(
        self,
        registry: str,
        credentials: Credentials | None = None,
        *,
        insecure: Iterable[str] = (),
        timeout: float = 60.0,
    ) -> None:
        self.registry = registry
        self.base = base_url(registry, insecure)
        self.credentials = credentials or Credentials()
        self._http = urllib3.PoolManager(
            num_pools=4,
            maxsize=8,
            retries=False,
            timeout=urllib3.Timeout(connect=10.0, read=timeout),
        )
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc) -> None:
        self._http.clear()

    # --- requests with authentication -----------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base + path

    def request(
        self,
        method: str,
        path: str,
        scopes: tuple[str, ...] = (),
        *,
        headers: dict[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """Send once; on a 401 with a challenge, authenticate for `scopes` and send again."""
        url = self.url(path)
        for attempt in (1, 2):
            sent = dict(headers or {})
            authorization = self._authorization(scopes)
            if authorization:
                sent["Authorization"] = authorization
            try:
                response = self._http.request(
                    method,
                    url,
                    headers=sent,
                    body=body() if callable(body) else body,
                    preload_content=not stream,
                    retries=_retries(),
                )
            except urllib3.exceptions.HTTPError as e:
                raise RegistryUnreachable(f"cannot reach registry {self.registry}: {e}") from None
            if response.status != 401 or attempt == 2:
                return response
            challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if not self._can_answer(challenge):
                return response
            response.drain_conn()
            response.release_conn()
            with self._lock:
                self._challenge = challenge
                if challenge.scheme == "bearer":
                    wanted = scopes + ((challenge.scope,) if challenge.scope else ())
                    self._tokens[scope_key(scopes)] = self._fetch_token(wanted)
        raise AssertionError("unreachable")

    def _can_answer(self, challenge: Challenge) -> bool:
        if challenge.scheme == "basic":
            return bool(self.credentials)
        return challenge.scheme == "bearer" and bool(challenge.realm)

    def _authorization(self, scopes: tuple[str, ...]) -> str | None:
        with self._lock:
            challenge = self._challenge
            if challenge is None:
                return None
            if challenge.scheme == "basic":
                return self._basic()
            key = scope_key(scopes)
            token = self._tokens.get(key)
            if token is None or token[1] < time.monotonic():
                token = self._tokens[key] = self._fetch_token(scopes)
            return f"Bearer {token[0]}"

    def _basic(self) -> str:
        pair = f"{self.credentials.username}:{self.credentials.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _fetch_token(self, scopes: tuple[str, ...]) -> tuple[str, float]:
        challenge = self._challenge
        assert challenge is not None
        query = [("service", challenge.service)] if challenge.service else []
        query += [("scope", s) for s in sorted(set(scopes))]
        url = challenge.realm + ("&" if "?" in challenge.realm else "?") + urlencode(query)
        headers = {"Authorization": self._basic()} if self.credentials else {}
        try:
            response = self._http.request("GET", url, headers=headers, retries=_retries())
        except urllib3.exceptions.HTTPError as e:
            raise RegistryUnreachable(f"cannot reach the token service {url}: {e}") from None
        if response.status == 401:
            raise AuthenticationFailed(
                f"login to {self.registry} failed: {_message(response) or 'unauthorized'}"
            )
        if response.status != 200:
            raise RegistryFailure(
                f"the token service of {self.registry} answered {response.status}: "
                f"{_message(response)}"
            )
        try:
            body = response.json()
            token = body.get("token") or body["access_token"]
            lifetime = float(body.get("expires_in") or 60)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RegistryFailure(f"the token service of {self.registry} sent no token") from None
        return token, time.monotonic() + max(lifetime - _TOKEN_MARGIN, 1.0)

    # --- the API ------------------------------------------------------------------------

    def login(self) -> None:
        """Check the credentials the way `docker login` does: ping /v2/ and authenticate."""
        response = self.request("GET", "/v2/")
        if response.status == 401:
            raise AuthenticationFailed(f"login to {self.registry} failed: {_message(response)}")
        check(response, f"ping {self.registry}")

    def get_manifest(
        self, repository: str, reference: str, scopes: tuple[str, ...]
    ) -> tuple[bytes, str, str]:
        """(content, media type, digest) of a manifest, verified against the digest asked
        for or the one the registry announced."""
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            scopes,
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        check(response, f"manifest for {repository}:{reference}")
        content = response.data
        if len(content) > MAX_MANIFEST:
            raise InvalidInput(f"manifest for {repository}:{reference} is larger than 4 MiB")
        digest = sha256_digest(content)
        expected = reference if reference.startswith("sha256:") else None
        expected = expected or response.headers.get("Docker-Content-Digest")
        if expected and expected != digest:
            raise DigestMismatch(
                f"manifest for {repository}:{reference} has digest {digest}, not {expected}"
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            try:
                media_type = json.loads(content).get("mediaType", "")
            except (ValueError, AttributeError):
                media_type = ""
        return content, media_type, digest

    def open_blob(
        self, repository: str, digest: str, scopes: tuple[str, ...], offset: int = 0
    ) -> urllib3.BaseHTTPResponse:
        """A streaming response with the blob's bytes from `offset` on."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self.request(
            "GET", f"/v2/{repository}/blobs/{digest}", scopes, headers=headers, stream=True
        )
        if response.status not in (200, 206):
            response.read()
            check(response, f"blob {digest}")
        if offset and response.status == 200:
            skipped = 0
            while skipped < offset:
                chunk = response.read(min(_READ, offset - skipped))
                if not chunk:
                    break
                skipped += len(chunk)
        return response

    def has_blob(self, repository: str, digest: str, scopes: tuple[str, ...]) -> bool:
        response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", scopes)
        if response.status == 404:
            return False
        check(response, f"blob {digest}")
        return True

    def upload_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open_file: Callable[[], BinaryIO],
        scopes: tuple[str, ...],
        on_sent: Callable[[int], None],
        mount_from: str | None = None,
    ) -> bool:
        """Upload a blob, or mount it from `mount_from`; True when it was mounted."""
        query = "?" + urlencode({"mount": digest, "from": mount_from}) if mount_from else ""
        response = self.request(
            "POST",
            f"/v2/{repository}/blobs/uploads/{query}",
            scopes,
            headers={"Content-Length": "0"},
        )
        if mount_from and response.status == 201:
            return True
        if response.status != 202:
            check(response, f"upload of {digest}")
            raise RegistryFailure(f"upload of {digest}: unexpected status {response.status}")
        location = self.url(response.headers["Location"])
        if size <= MONOLITHIC_LIMIT:
            self._put_blob(location, digest, scopes, size, open_file, on_sent)
            return False
        offset = 0
        while offset < size:
            length = min(UPLOAD_CHUNK, size - offset)
            response = self.request(
                "PATCH",
                location,
                scopes,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(length),
                    "Content-Range": f"{offset}-{offset + length - 1}",
                },
                body=_body(open_file, offset, length, on_sent),
            )
            check(response, f"upload of {digest}")
            location = self.url(response.headers.get("Location") or location)
            offset += length
        self._put_blob(location, digest, scopes, 0, open_file, on_sent)
        return False

    def _put_blob(self, location, digest, scopes, size, open_file, on_sent) -> None:
        query = ("&" if "?" in location else "?") + urlencode({"digest": digest})
        response = self.request(
            "PUT",
            location + query,
            scopes,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            body=_body(open_file, 0, size, on_sent) if size else b"",
        )
        check(response, f"upload of {digest}")

    def put_manifest(
        self,
        repository: str,
        reference: str,
        content: bytes,
        media_type: str,
        scopes: tuple[str, ...],
    ) -> str:
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            scopes,
            headers={"Content-Type": media_type},
            body=content,
        )
        check(response, f"manifest {repository}:{reference}")
        return response.headers.get("Docker-Content-Digest") or sha256_digest(content)


def _body(open_file, offset: int, length: int, on_sent) -> Callable[[], Iterator[bytes]]:
    """A fresh iterator over a file's byte range each time it is called (for a resend)."""

    def chunks() -> Iterator[bytes]:
        with open_file() as f:
            f.seek(offset)
            left = length
            while left > 0:
                chunk = f.read(min(_READ, left))
                if not chunk:
                    raise InvalidInput("a local blob is shorter than its descriptor")
                left -= len(chunk)
                on_sent(len(chunk))
                yield chunk

    return chunks


def _message(response: urllib3.BaseHTTPResponse) -> str:
    """The first error of a distribution API error body, as `code: message`."""
    try:
        errors = json.loads(response.data)["errors"]
        first = errors[0]
        return f"{first.get('code', '').lower()}: {first.get('message', '')}".strip(": ")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return (response.reason or "").lower()


def check(response: urllib3.BaseHTTPResponse, what: str) -> None:
    """Raise the error matching a failed response; `what` says what was asked for."""
    if 200 <= response.status < 300:
        return
    message = _message(response)
    if response.status in (401, 403):
        raise AccessDenied(f"{what}: {message or 'denied'}")
    if response.status == 404:
        raise NotFound(f"{what} not found: {message or 'unknown'}")
    raise RegistryFailure(f"{what}: registry answered {response.status}: {message}")
