"""busybox:latest for the docker peer with no Docker Hub: saved from another daemon (Dockyard,
so both run the same image), or imported from the host's static /bin/busybox."""

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

BUSYBOX = Path("/bin/busybox")


def busybox_tar() -> bytes:
    """A root filesystem of the host's static busybox and its applet links, for docker import."""
    applets = subprocess.run(
        [str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    dirs = {"bin", "dev", "etc", "proc", "root", "sys", "tmp", "usr", "var"}
    for applet in applets:
        parent = os.path.dirname(applet)
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(dirs):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(text), 0o644
            tar.addfile(info, io.BytesIO(text.encode()))
        with open(BUSYBOX, "rb") as f:
            info = tarfile.TarInfo("bin/busybox")
            info.size, info.mode = os.fstat(f.fileno()).st_size, 0o755
            tar.addfile(info, f)
        for applet in sorted(set(applets) - {"bin/busybox"}):
            info = tarfile.TarInfo(applet)
            info.type = tarfile.SYMTYPE
            info.linkname = os.path.relpath("bin/busybox", os.path.dirname(applet))
            tar.addfile(info)
    return buf.getvalue()


def load_busybox(host: str, source: str | None) -> None:
    """busybox:latest into the daemon at `host`, from the daemon at `source` or /bin/busybox."""
    if source:
        save = subprocess.Popen(
            ["docker", "-H", source, "save", "busybox:latest"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        load = subprocess.run(
            ["docker", "-H", host, "load"], stdin=save.stdout, capture_output=True, check=False
        )
        save.stdout.close()
        saved = save.wait(timeout=120)
        if saved == 0 and load.returncode == 0:
            return
        print(
            f"docker peer: busybox from {source} did not load "
            f"({save.stderr.read().decode().strip()} {load.stderr.decode().strip()}); "
            "importing /bin/busybox instead",
            file=sys.stderr,
        )
    subprocess.run(
        [
            *("docker", "-H", host, "import"),
            *("--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            *("--change", 'CMD ["sh"]', "-", "busybox:latest"),
        ],
        input=busybox_tar(),
        capture_output=True,
        check=True,
    )
