"""Prepares this machine to run or test Dockyard; safe to run again and again.

Runs with the system's python3 before the virtualenv exists, so it uses the standard library
only. Steps, in order:

  packages  Debian packages the runtime needs (apt-get update only when one is missing)
  venv      .venv with requirements-dev.txt (skipped while the requirements are unchanged)
  npm       front-end packages, when a package.json exists (skipped while unchanged)
  node      manage.py migrate, prepare_node (host fix-ups, registers this node), ensure_admin
  images    manage.py import_base_images (busybox and debian into the platform's registry)

`--for-tests` runs the node step against a throwaway DOCKYARD_ROOT and skips the images:
tests make their own roots, and the host fix-ups are what they need from it.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
VENV = SOURCE / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
APT_PACKAGES = [
    "crun",
    "conmon",
    "redis-server",
    "busybox-static",
    "debootstrap",
    "nftables",
    "iproute2",
    "skopeo",
    # Peers for the interop tests (podman pull) and the benches (Docker API service, builds).
    "podman",
    "buildah",
    "procps",
    # A cluster's control plane keeps its state in a private PostgreSQL (dockyard/cluster.py).
    "postgresql",
    # The end-to-end tests run a stack with Debian's docker-compose (1.29) against the platform.
    "docker-compose",
    # The dashboard's browser tests drive Debian's Chromium through Playwright.
    "chromium",
    # Debian's python3 makes virtualenvs only with this.
    "python3-venv",
    # The confinement tests build a static probe (tests/runtime/containers/probe.c) that
    # makes the system calls a busybox image cannot.
    "gcc",
    "libc6-dev",
]
STEPS = ["packages", "venv", "npm", "node", "images"]


class SetupFailed(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path = SOURCE) -> None:
    print("    $ " + " ".join(argv), flush=True)
    code = subprocess.call(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    if code != 0:
        raise SetupFailed(f"`{' '.join(argv)}` failed with exit code {code}")


def missing_packages(packages: list[str]) -> list[str]:
    missing = []
    for package in packages:
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
        )
        if status.returncode != 0 or not status.stdout.endswith(" installed"):
            missing.append(package)
    return missing


def install_packages() -> None:
    if shutil.which("dpkg-query") is None:
        raise SetupFailed(f"not a Debian system; install these yourself: {' '.join(APT_PACKAGES)}")
    wanted = list(APT_PACKAGES)
    if (SOURCE / "package.json").exists() and shutil.which("npm") is None:
        wanted.append("npm")
    missing = missing_packages(wanted)
    if not missing:
        say("Debian packages: all present")
        return
    say(f"Debian packages: installing {' '.join(missing)}")
    if os.geteuid() != 0:
        raise SetupFailed(f"installing packages needs root: apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env)
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)


def digest_of(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode() + b"\0")
        if path.exists():
            h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def install_venv() -> None:
    requirements = [SOURCE / "requirements.txt", SOURCE / "requirements-dev.txt"]
    stamp = VENV / ".requirements.sha256"
    wanted = digest_of(requirements)
    if VENV_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted:
        say("Python packages: up to date")
        return
    if not VENV_PYTHON.exists():
        say(f"Python packages: creating {VENV.relative_to(SOURCE)}")
        run([sys.executable, "-m", "venv", str(VENV)])
    say("Python packages: installing requirements-dev.txt")
    run([str(VENV_PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-r", "requirements-dev.txt"])  # fmt: skip
    stamp.write_text(wanted)


def install_npm() -> None:
    manifest = SOURCE / "package.json"
    if not manifest.exists():
        say("Front-end packages: none (no package.json)")
        return
    lock = SOURCE / "package-lock.json"
    stamp = SOURCE / "node_modules" / ".dockyard.sha256"
    wanted = digest_of([manifest, lock])
    if stamp.exists() and stamp.read_text() == wanted:
        say("Front-end packages: up to date")
        return
    if shutil.which("npm") is None:
        raise SetupFailed("npm is missing: apt-get install npm")
    say("Front-end packages: installing")
    # ci installs exactly the lock file; without one, install writes it.
    run(["npm", "ci" if lock.exists() else "install", "--no-audit", "--no-fund"])
    stamp.parent.mkdir(exist_ok=True)
    stamp.write_text(digest_of([manifest, lock]))


def manage(*args: str, env: dict[str, str]) -> None:
    began = time.monotonic()
    run([str(VENV_PYTHON), "manage.py", *args], env=env)
    say(f"manage.py {args[0]}: done in {time.monotonic() - began:.1f}s")


def prepare_node(env: dict[str, str]) -> None:
    say(f"Node state in {env.get('DOCKYARD_ROOT') or '/var/lib/dockyard'}")
    manage("migrate", "--no-input", env=env)
    manage("prepare_node", env=env)
    manage("ensure_admin", env=env)


def import_images(env: dict[str, str]) -> None:
    say("Base images: busybox and debian (slow the first time only)")
    manage("import_base_images", env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--for-tests",
        action="store_true",
        help="no base images; node commands in a throwaway root",
    )
    parser.add_argument("--only", help=f"comma-separated steps among {','.join(STEPS)}")
    args = parser.parse_args(argv)

    steps = args.only.split(",") if args.only else list(STEPS)
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {', '.join(sorted(unknown))}; known: {', '.join(STEPS)}")
    if args.for_tests and "images" in steps:
        steps.remove("images")

    env = dict(os.environ)
    scratch: list[Path] = []
    if args.for_tests:
        scratch = [
            Path(tempfile.mkdtemp(prefix="dockyard-setup-")),
            Path(tempfile.mkdtemp(prefix="dys-", dir="/tmp")),
        ]
        env["DOCKYARD_ROOT"], env["DOCKYARD_RUN_DIR"] = (str(p) for p in scratch)
        env.pop("DATABASE_URL", None)
    try:
        for step, action in [
            ("packages", install_packages),
            ("venv", install_venv),
            ("npm", install_npm),
            ("node", lambda: prepare_node(env)),
            ("images", lambda: import_images(env)),
        ]:
            if step in steps:
                action()
    except SetupFailed as e:
        print(f"setup failed: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True)
    say("Setup complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
