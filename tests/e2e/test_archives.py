"""`docker save/load/import/export` through the real docker CLI; skopeo reads our archives."""

import io
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

FIXTURES = Path(__file__).resolve().parents[1] / "runtime" / "images" / "fixtures"


def tag() -> str:
    return f"arch-{uuid.uuid4().hex[:8]}"


def test_save_then_load_round_trips_and_runs(platform, tmp_path):
    name = f"seed-saved:{uuid.uuid4().hex[:6]}"
    archive = tmp_path / "saved.tar"
    assert platform.docker("tag", "busybox", name).returncode == 0
    saved = platform.docker("save", name, "-o", str(archive))
    assert saved.returncode == 0, saved.stderr
    assert platform.docker("rmi", name).returncode == 0
    loaded = platform.docker("load", "-i", str(archive))
    assert loaded.returncode == 0, loaded.stderr
    assert f"Loaded image: {name}" in loaded.stdout
    try:
        run = platform.docker("run", "--rm", name, "echo", "loaded-ok")
        assert run.stdout == "loaded-ok\n", run.stderr
    finally:
        platform.docker("rmi", name)


@pytest.fixture
def shared_busybox(platform):
    """The platform's busybox:latest is put back afterwards: an archive that names it replaces
    it, as with Docker, and the tests after this one run the real one."""
    original = platform.docker("image", "inspect", "--format", "{{.Id}}", "busybox:latest")
    assert original.returncode == 0, original.stderr
    yield
    assert platform.docker("tag", original.stdout.strip(), "busybox:latest").returncode == 0


@pytest.mark.parametrize("fixture", ["busybox-docker-save.tar", "busybox-oci.tar"])
def test_archives_made_by_other_tools_load_and_run(platform, shared_busybox, fixture):
    loaded = platform.docker("load", "-i", str(FIXTURES / fixture))
    assert loaded.returncode == 0, loaded.stderr
    name = loaded.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    run = platform.docker("run", "--rm", name, "busybox", "echo", "hi")
    assert run.stdout == "hi\n", run.stderr


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo")
def test_skopeo_reads_both_forms_of_our_save(platform, tmp_path):
    archive = tmp_path / "busybox.tar"
    assert platform.docker("save", "busybox", "-o", str(archive)).returncode == 0
    inspect = subprocess.run(
        ["skopeo", "inspect", f"docker-archive:{archive}"], capture_output=True, text=True
    )
    assert inspect.returncode == 0, inspect.stderr
    assert '"Layers"' in inspect.stdout
    layout = tmp_path / "layout"
    copied = subprocess.run(
        ["skopeo", "copy", f"docker-archive:{archive}", f"oci:{layout}:busybox"],
        capture_output=True,
        text=True,
    )
    assert copied.returncode == 0, copied.stderr
    oci = subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{archive}"], capture_output=True, text=True
    )
    assert (layout / "index.json").exists()
    assert oci.returncode == 0 or "oci-layout" not in oci.stderr


def test_export_then_import_with_changes(platform, tmp_path):
    container = f"exp{uuid.uuid4().hex[:8]}"
    created = platform.docker(
        "run", "--name", container, "busybox", "sh", "-c", "echo exported > /marker"
    )
    assert created.returncode == 0, created.stderr
    rootfs = tmp_path / "rootfs.tar"
    try:
        exported = platform.docker("export", container, "-o", str(rootfs))
        assert exported.returncode == 0, exported.stderr
    finally:
        platform.docker("rm", "-f", container)
    with tarfile.open(rootfs) as tar:
        assert "marker" in tar.getnames()
    name = tag()
    imported = platform.docker(
        "import", "--change", 'CMD ["cat", "/marker"]', "-m", "from export", str(rootfs), name
    )
    assert imported.returncode == 0, imported.stderr
    try:
        assert platform.docker("run", "--rm", name).stdout == "exported\n"
        history = platform.docker("history", name).stdout
        assert "from export" in history
    finally:
        platform.docker("rmi", name)


def _evil_archive() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        data = b"[]"
        info = tarfile.TarInfo("../../escape/manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_hostile_archives_are_refused_with_a_clear_error(platform, tmp_path):
    evil = tmp_path / "evil.tar"
    evil.write_bytes(_evil_archive())
    out = platform.docker("load", "-i", str(evil))
    assert out.returncode != 0
    assert "outside the archive" in out.stderr
    context = tmp_path / "ctx.tar"
    context.write_bytes(_evil_archive())
    built = subprocess.run(
        ["docker", "-H", platform.docker_host, "build", "-"],
        input=context.read_bytes(),
        capture_output=True,
        env=platform.env,
    )
    assert built.returncode != 0
    assert b"'..'" in built.stderr


def _ok(done) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cp_reads_and_writes_a_volume_and_a_planted_symlink_stays_in_the_container(
    platform, tmp_path
):
    vol, c, ro = f"cpv{uuid.uuid4().hex[:8]}", f"cpc{uuid.uuid4().hex[:8]}", None
    marker = f"dyt-cp-{uuid.uuid4().hex[:8]}"
    local = tmp_path / "in.txt"
    local.write_text("copied in\n")
    try:
        _ok(
            platform.docker(
                "run", "-d", "--name", c, "-v", f"{vol}:/data", "busybox", "sleep", "300"
            )
        )
        _ok(platform.docker("cp", str(local), f"{c}:/data/in.txt"))
        seen = platform.docker("run", "--rm", "-v", f"{vol}:/d", "busybox", "cat", "/d/in.txt")
        assert _ok(seen) == "copied in\n"
        _ok(platform.docker("exec", c, "sh", "-c", "echo from the volume > /data/out.txt"))
        _ok(platform.docker("cp", f"{c}:/data/out.txt", str(tmp_path / "out.txt")))
        assert (tmp_path / "out.txt").read_text() == "from the volume\n"
        # The container plants a symlink to / in its volume, then the user copies through it.
        _ok(platform.docker("exec", c, "ln", "-s", "/", "/data/escape"))
        (tmp_path / marker).write_text("planted\n")
        _ok(platform.docker("cp", str(tmp_path / marker), f"{c}:/data/escape/"))
        assert not Path(f"/{marker}").exists()
        assert _ok(platform.docker("exec", c, "cat", f"/{marker}")) == "planted\n"
        _ok(platform.docker("cp", f"{c}:/data/escape/etc/passwd", str(tmp_path / "pw")))
        inside = _ok(platform.docker("exec", c, "cat", "/etc/passwd"))
        assert (tmp_path / "pw").read_text() == inside != Path("/etc/passwd").read_text()
        # The files the platform mounts over the image's are read as the container sees them.
        _ok(platform.docker("cp", f"{c}:/etc/hostname", str(tmp_path / "hn")))
        assert (tmp_path / "hn").read_text() == _ok(platform.docker("exec", c, "hostname"))
        ro = f"{c}-ro"
        _ok(
            platform.docker(
                "run", "-d", "--name", ro, "-v", f"{vol}:/data:ro", "busybox", "sleep", "300"
            )
        )
        refused = platform.docker("cp", str(local), f"{ro}:/data/again.txt")
        assert refused.returncode != 0 and "read-only" in refused.stderr
    finally:
        platform.docker("rm", "-f", c, *([ro] if ro else []))
        platform.docker("volume", "rm", vol)
