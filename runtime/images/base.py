"""Base images built on the node itself, so nothing needs Docker Hub.

busybox comes from Debian's busybox-static binary; debian from debootstrap against the
configured mirror.
"""

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from runtime.errors import RuntimeFailure
from runtime.images.model import Image
from runtime.images.store import ImageStore
from runtime.layers.export import write_layer

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX = Path("/bin/busybox")
SOURCES_LIST = Path("/etc/apt/sources.list")
SOURCES_DIR = Path("/etc/apt/sources.list.d")

_BUSYBOX_DIRS = {
    "bin": 0o755,
    "dev": 0o755,
    "etc": 0o755,
    "home": 0o755,
    "proc": 0o555,
    "root": 0o700,
    "sys": 0o555,
    "tmp": 0o1777,
    "usr": 0o755,
    "var": 0o755,
    "var/spool": 0o755,
    "var/spool/mail": 0o755,
}
_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "bin:x:2:2:bin:/bin:/bin/false\n"
    "sys:x:3:3:sys:/dev:/bin/false\n"
    "www-data:x:33:33:www-data:/var/www:/bin/false\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
)
_GROUP = (
    "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\n"
    "wheel:x:10:root\nwww-data:x:33:\nusers:x:100:\nnogroup:x:65534:\n"
)


def build_busybox(store: ImageStore, busybox: Path = BUSYBOX) -> Image:
    """busybox:latest from the host's static busybox; the same binary gives the same digest."""
    applets = _run([str(busybox), "--list-full"]).split()
    version = _run([str(busybox), "--help"]).splitlines()[0].strip()
    mtime = int(busybox.stat().st_mtime)
    created = datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    dirs = dict(_BUSYBOX_DIRS)
    for applet in applets:
        parent = os.path.dirname(applet)
        while parent and parent not in dirs:
            dirs[parent] = 0o755
            parent = os.path.dirname(parent)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(dirs):
            tar.addfile(_entry(name, tarfile.DIRTYPE, dirs[name], mtime))
        for name, text in (("etc/group", _GROUP), ("etc/passwd", _PASSWD)):
            data = text.encode()
            info = _entry(name, tarfile.REGTYPE, 0o644, mtime)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        with open(busybox, "rb") as f:
            info = _entry("bin/busybox", tarfile.REGTYPE, 0o755, mtime)
            info.size = os.fstat(f.fileno()).st_size
            tar.addfile(info, f)
        for applet in sorted(set(applets) - {"bin/busybox"}):
            info = _entry(applet, tarfile.SYMTYPE, 0o777, mtime)
            info.linkname = os.path.relpath("bin/busybox", os.path.dirname(applet))
            tar.addfile(info)
    buf.seek(0)
    config = {
        "created": created,
        "config": {"Env": [DEFAULT_PATH], "Cmd": ["sh"]},
        "history": [{"created": created, "created_by": f"{version} from busybox-static"}],
    }
    return store.add_image([buf], config, tags=["busybox:latest"])


def build_debian(store: ImageStore, mirror: str | None = None, suite: str = "bookworm") -> Image:
    """debian:<suite> and debian:latest from `debootstrap --variant=minbase` (takes minutes)."""
    mirror = mirror or default_mirror()
    rootfs = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=store.paths.tmp))
    layer = Path(f"{rootfs}.tar")
    try:
        _run(["debootstrap", "--variant=minbase", suite, str(rootfs), mirror])
        _tidy_rootfs(rootfs)
        _copy_apt_sources(rootfs)
        with open(layer, "wb") as out:
            write_layer(rootfs, out)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        config = {
            "created": created,
            "config": {"Env": [DEFAULT_PATH], "Cmd": ["bash"]},
            "history": [
                {
                    "created": created,
                    "created_by": f"debootstrap --variant=minbase {suite} {mirror}",
                }
            ],
        }
        return store.add_image([layer], config, tags=[f"debian:{suite}", "debian:latest"])
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
        layer.unlink(missing_ok=True)


def default_mirror() -> str:
    """The first Debian archive the host's apt is configured with."""
    if SOURCES_LIST.is_file():
        for line in SOURCES_LIST.read_text().splitlines():
            fields = re.sub(r"\[[^]]*\]", "", line).split()
            if len(fields) >= 2 and fields[0] == "deb":
                return fields[1]
    for path in sorted(SOURCES_DIR.glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = _deb822(stanza)
            if "deb" in fields.get("types", "").split() and fields.get("uris"):
                return fields["uris"].split()[0]
    raise RuntimeFailure("no Debian mirror configured in apt sources; pass one explicitly")


def _deb822(stanza: str) -> dict[str, str]:
    fields = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    return fields


def _tidy_rootfs(rootfs: Path) -> None:
    """Drop what debootstrap leaves that an image should not carry."""
    for pattern in (
        "var/lib/apt/lists/*",
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "dev/*",
        "var/log/*.log",
    ):
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                if path.name != "partial":
                    shutil.rmtree(path)
            else:
                path.unlink()
    # The runtime provides these per container; the build host's values must not leak in.
    for name in ("etc/resolv.conf", "etc/hostname", "etc/machine-id"):
        path = rootfs / name
        if path.is_file() or path.is_symlink():
            path.unlink()
            path.write_text("")


def _copy_apt_sources(rootfs: Path) -> None:
    """Give the image the host's apt sources (those whose keyrings the image has)."""
    copied = []
    for path in sorted(SOURCES_DIR.glob("*.list")) + sorted(SOURCES_DIR.glob("*.sources")):
        keyrings = re.findall(r"(?:Signed-By:|signed-by=)\s*(/\S+?)[\]\s]", path.read_text() + "\n")
        if all((rootfs / k.lstrip("/")).exists() for k in keyrings):
            shutil.copyfile(path, rootfs / "etc/apt/sources.list.d" / path.name)
            copied.append(path)
    image_list = rootfs / "etc/apt/sources.list"
    if SOURCES_LIST.is_file() and SOURCES_LIST.read_text().strip():
        shutil.copyfile(SOURCES_LIST, image_list)
    elif copied:
        image_list.unlink(missing_ok=True)


def _entry(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RuntimeFailure(f"{argv[0]} is not installed") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeFailure(f"{' '.join(argv[:2])} failed: {' '.join(tail)}")
    return done.stdout
