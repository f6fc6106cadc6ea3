"""`make up`: the platform's processes on one machine, in the foreground until Ctrl-C.

What runs is listed in dockyard/services.py; dockyard/supervisor.py starts, restarts and
stops it. End-to-end tests use the same `Platform`, so they start the real services exactly
the way a user does.

Like the supervisor, this never imports Django settings, which would create state (the
secret key file) in the launcher's own environment.
"""

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from platformkit.files import ADMIN_PASSWORD_FILE

from .services import (
    SERVICE_NAMES,
    SOURCE_DIR,
    VENV_BIN,
    PlatformError,
    cluster_enabled,
    dashboard_url,
)
from .supervisor import Platform


class _Stop(Exception):
    pass


def _raise_stop(signum, frame) -> None:
    raise _Stop


def _print_banner(platform: Platform) -> None:
    env, names = platform.env, platform.names
    print(f"Dockyard is running ({', '.join(names)}); logs in {platform.log_dir}", flush=True)
    if "web" in names:
        print(f"  Dashboard:  {dashboard_url(env)}")
        user = env.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        saved = Path(env["DOCKYARD_ROOT"]) / ADMIN_PASSWORD_FILE
        if env.get("DJANGO_SUPERUSER_PASSWORD"):
            where = "the password in DJANGO_SUPERUSER_PASSWORD"
        elif saved.exists():
            where = f"password {saved.read_text().strip()} (kept in {saved})"
        else:
            where = "the password printed by `manage.py ensure_admin` when it created the account"
        print(f"  Admin login: {user} with {where}")
    if "gateway" in names:
        print(f"  Docker CLI: export DOCKER_HOST=unix://{env['DOCKYARD_ENGINE_SOCKET']}")
    if cluster_enabled(env):
        print("  Add a node: .venv/bin/python manage.py join_token (or the dashboard's Nodes page)")
    print("Press Ctrl-C to stop.", flush=True)


def _publish_base_images(platform: Platform) -> None:
    """`docker pull busybox` works out of the box: the node's base images go to `library/`."""
    done = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "publish_base_images"],
        cwd=SOURCE_DIR,
        env=platform.env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"warning: publishing the base images failed:\n{done.stdout}{done.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dockyard.launcher",
        description="Run the platform's processes in the foreground until Ctrl-C.",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated services to run (default: all of {','.join(SERVICE_NAMES)})",
    )
    parser.add_argument("--log-dir", type=Path, help="default: $DOCKYARD_ROOT/logs")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to become ready")
    args = parser.parse_args(argv)

    services = [s for s in args.only.split(",") if s] if args.only else None
    # A closed terminal or a service manager stops the platform as Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    platform = Platform(log_dir=args.log_dir, services=services)
    try:
        print(f"Starting {', '.join(platform.names)}...", flush=True)
        platform.start(timeout=args.timeout)
        platform.wait_ready(timeout=args.timeout)
        if "web" in platform.names:
            _publish_base_images(platform)
        _print_banner(platform)
        # The supervisor restarts what dies and reports it; this thread only waits for it
        # to give up (or for Ctrl-C).
        while platform.failure is None:
            time.sleep(0.5)
        return 1
    except PlatformError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stop):
        print("\nStopping...", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave children behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        platform.stop()


if __name__ == "__main__":
    sys.exit(main())
