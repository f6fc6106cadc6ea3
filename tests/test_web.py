"""The web process over TLS, as registry clients meet it."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dockyard.ephemeral import self_signed_certificate, tls_web

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl"),
]
CIPHERS = ("TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384")


@pytest.fixture(scope="module")
def server():
    work = Path(tempfile.mkdtemp(prefix="dyweb-"))
    try:
        key, cert = self_signed_certificate(work)
        with tls_web(work / "root", key, cert) as host:
            yield host
    finally:
        shutil.rmtree(work, ignore_errors=True)


def negotiated_cipher(host: str, client_order: str) -> str:
    result = subprocess.run(
        ["openssl", "s_client", "-connect", host, "-tls1_3", "-ciphersuites", client_order],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    for line in result.stdout.splitlines():
        if "Cipher is" in line:
            return line.rsplit(" ", 1)[-1]
    raise AssertionError(result.stdout + result.stderr)


@pytest.mark.parametrize("wanted", CIPHERS)
def test_the_client_picks_the_cipher(server, wanted):
    others = [c for c in CIPHERS if c != wanted]
    assert negotiated_cipher(server, ":".join([wanted, *others])) == wanted
