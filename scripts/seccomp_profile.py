"""Regenerates runtime/containers/seccomp_default.json, the containers' default seccomp profile.

    python3 scripts/seccomp_profile.py            # from Debian's package, through apt-get
    python3 scripts/seccomp_profile.py --from default.json   # from a copy at hand
    python3 scripts/seccomp_profile.py --check    # exit 1 when the vendored file differs

The source is Docker's own default profile, `profiles/seccomp/default.json` in the Moby tree,
as Debian ships it in `golang-github-docker-docker-dev` (the source package of the docker.io
that Debian runs, kept up to date by Debian's security updates). The .deb is only downloaded
and unpacked here, never installed. Debian's `/usr/share/containers/seccomp.json`
(containers-common) is not used: it is Podman's profile, which lets every container call
clone, unshare, setns, mount and keyctl, the calls this profile exists to refuse.

Debian's copy is Docker 20.10's profile; `AMENDMENTS` bring it to what Docker refuses since,
each with the release that made the change. The result is written in Docker's format, so it
is also a profile `docker run --security-opt seccomp=<file>` accepts.

Standard library only, so it runs without the virtualenv.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent.parent
TARGET = SOURCE / "runtime" / "containers" / "seccomp_default.json"
PACKAGE = "golang-github-docker-docker-dev"
MEMBER = "./usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json"

AF_VSOCK = 40
EPERM = 1

Profile = dict[str, Any]


def _unlisted(profile: Profile, names: set[str]) -> None:
    for rule in profile["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"):
            rule["names"] = [n for n in rule["names"] if n not in names]


def refuse_io_uring(profile: Profile) -> None:
    """Docker 25 dropped io_uring from the allow-list: its syscalls reach a large body of
    kernel code that has been the source of many local privilege escalations."""
    _unlisted(profile, {"io_uring_enter", "io_uring_register", "io_uring_setup"})


def refuse_vsock(profile: Profile) -> None:
    """Docker 23 allows socket(2) for every address family but AF_VSOCK, which reaches the
    hypervisor's host side on a virtual machine rather than the container's network."""
    _unlisted(profile, {"socket"})
    rule = {
        "names": ["socket"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": AF_VSOCK, "valueTwo": 0, "op": "SCMP_CMP_NE"}],
    }
    if rule not in profile["syscalls"]:
        profile["syscalls"].insert(1, rule)


def errno_eperm(profile: Profile) -> None:
    """Docker 23 names the default errno; runtimes already answered EPERM without it."""
    profile["defaultErrnoRet"] = EPERM


AMENDMENTS: list[Callable[[Profile], None]] = [refuse_io_uring, refuse_vsock, errno_eperm]


def from_package() -> bytes:
    """Docker's default.json out of Debian's package, downloaded with apt-get."""
    with tempfile.TemporaryDirectory(prefix="seccomp-profile-") as tmp:
        subprocess.run(["apt-get", "download", "-q", PACKAGE], cwd=tmp, check=True)
        (deb,) = Path(tmp).glob(f"{PACKAGE}_*.deb")
        tar = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True
        ).stdout
        return subprocess.run(
            ["tar", "-xOf", "-", MEMBER], input=tar, check=True, capture_output=True
        ).stdout


def generate(source: bytes) -> str:
    profile = json.loads(source)
    for amend in AMENDMENTS:
        amend(profile)
    # Drop the empty fields Go writes, so the file reads as Docker's own JSON does.
    for rule in profile["syscalls"]:
        for key in ("args", "comment", "includes", "excludes"):
            if not rule.get(key):
                rule.pop(key, None)
    return json.dumps(profile, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="Docker's default.json")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    text = generate(args.source.read_bytes() if args.source else from_package())
    if args.check:
        same = TARGET.exists() and TARGET.read_text() == text
        print(f"{TARGET.relative_to(SOURCE)} is {'up to date' if same else 'out of date'}")
        return 0 if same else 1
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(SOURCE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
