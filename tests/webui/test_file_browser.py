"""The dashboard's file browser on a whole platform: downloads stream through the web process
without it holding them, and past the download cap the answer is a page that says so."""

import hashlib
import io
import tarfile
import urllib.error
from pathlib import Path

import pytest

from .conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

BIG = 192 * 1024 * 1024
# What the web process may grow by while it passes BIG bytes on.
MAX_GROWTH = 64 * 1024 * 1024
# Bigger than the default DOCKYARD_DASHBOARD_MAX_DOWNLOAD (512 MiB), and sparse: it costs
# no disk.
SPARSE = 600 * 1024 * 1024


def web_process(web_platform) -> int:
    """The pid of the platform's web server (`python -m dockyard.web --port N`)."""
    port = web_platform.env["DOCKYARD_PORT"]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"dockyard.web" in args and port.encode() in args:
            return int(entry.name)
    raise AssertionError("no web process found")


def resident(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def written(web_platform, cid: str) -> bool:
    return web_platform.docker("exec", cid, "test", "-e", "/written").returncode == 0


def test_a_big_file_streams_whole_without_the_web_process_holding_it(alice_web, web_platform):
    cid = alice_web.run(f"sh -c 'head -c {BIG} /dev/urandom > /big && touch /written; sleep 600'")
    wait_until(lambda: written(web_platform, cid), 60, "the file to be written")
    expected = web_platform.docker("exec", cid, "sha256sum", "/big").stdout.split()[0]
    pid = web_process(web_platform)
    before = peak = resident(pid)

    got, size = hashlib.sha256(), 0
    with alice_web.get(f"/ui/containers/{cid}/files/?path=/big&download=1", 120) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Disposition"] == 'attachment; filename="big"'
        while piece := answer.read(1024 * 1024):
            got.update(piece)
            size += len(piece)
            peak = max(peak, resident(pid))

    assert size == BIG
    assert got.hexdigest() == expected
    assert peak - before < MAX_GROWTH, f"the web process grew by {peak - before} bytes"
    web_platform.docker("rm", "-f", cid)


def test_a_directory_downloads_as_a_tar_and_lists_one_level(alice_web, web_platform):
    cid = alice_web.run(
        "sh -c 'mkdir -p /srv/sub && echo hello > /srv/sub/a.txt && ln -s / /srv/root"
        " && touch /written; sleep 600'"
    )
    wait_until(lambda: written(web_platform, cid), 60, "the files to be written")

    with alice_web.get(f"/ui/containers/{cid}/files/?path=/srv&download=1") as answer:
        assert answer.headers["Content-Disposition"] == 'attachment; filename="srv.tar"'
        data = answer.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar}
        assert tar.extractfile(members["srv/sub/a.txt"]).read() == b"hello\n"
    assert members["srv/root"].issym() and members["srv/root"].linkname == "/"
    with alice_web.get(f"/ui/containers/{cid}/files/?path=/srv") as answer:
        page = answer.read().decode()
    assert "sub/" in page and "→ /" in page and "a.txt" not in page
    web_platform.docker("rm", "-f", cid)


def test_downloads_past_the_cap_are_refused_with_a_message(alice_web, web_platform):
    cid = alice_web.run(
        "sh -c 'mkdir /bigdir && dd if=/dev/zero of=/bigdir/sparse bs=1 count=0"
        f" seek={SPARSE} && touch /written; sleep 600'"
    )
    wait_until(lambda: written(web_platform, cid), 60, "the sparse file to be made")

    for path in ("/bigdir/sparse", "/bigdir"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            alice_web.get(f"/ui/containers/{cid}/files/?path={path}&download=1").close()
        assert refused.value.code == 413
        page = refused.value.read().decode()
        assert "larger than the dashboard&#x27;s download limit of 512.0" in page
        assert "docker cp" in page
    web_platform.docker("rm", "-f", cid)
