#!/usr/bin/env python3
"""Push and pull of an image with a 100 MB layer through skopeo: Dockyard vs docker-registry.

    python -m bench.registry [--runs 5] [--size-mb 100]

Starts Dockyard's web process and Debian's `docker-registry` on loopback, both over
TLS with one throwaway certificate, each with its own temporary storage. Dockyard runs with
token auth (every run fetches a bearer token); docker-registry runs without auth. Every push
goes to a fresh repository from an empty client cache so each one moves the whole layer; the
two registries take turns.
Prints the medians and Dockyard's time as a multiple of docker-registry's, both as the ratio
of the medians and as the median of each round's ratio.
"""

import argparse
import gzip
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import median, paired_ratio, summary  # noqa: E402
from dockyard.ephemeral import (  # noqa: E402
    free_port,
    self_signed_certificate,
    stop_process,
    tls_web,
    wait_for_https,
)

REPO = Path(__file__).resolve().parent.parent
NOBODY = 65534
PASSWORD = secrets.token_urlsafe(12)


def make_image(layout: Path, size_mb: int) -> None:
    """An OCI layout holding one image whose single layer is `size_mb` of random data."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    # Random bytes do not compress, so the gzip layer is as big as asked and is pushed as is.
    payload = os.urandom(size_mb * 1024 * 1024)
    layer = put(gzip.compress(payload, compresslevel=1, mtime=0))
    config = put(
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [f"sha256:{'0' * 64}"]},
            }
        ).encode()
    )
    manifest = put(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
            }
        ).encode()
    )
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest,
                "annotations": {"org.opencontainers.image.ref.name": "big"},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))


@contextmanager
def dockyard(work: Path, key: Path, cert: Path):
    create = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('alice', password={PASSWORD!r})"
    )
    with tls_web(work / "dockyard", key, cert, create) as host:
        yield host


@contextmanager
def docker_registry(work: Path, key: Path, cert: Path):
    root = work / "docker-registry"
    root.mkdir()
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "error"},
                "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
                "http": {
                    "addr": f"127.0.0.1:{port}",
                    "tls": {"certificate": str(cert), "key": str(key)},
                },
            }
        )
    )
    log = root / "registry.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_https(f"https://127.0.0.1:{port}/v2/", proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc, grace=30)


def skopeo(work: Path, *args: str) -> None:
    # A fresh home per call: skopeo's blob cache would otherwise mount or skip the layer.
    home = Path(tempfile.mkdtemp(dir=work))
    os.chown(home, NOBODY, NOBODY)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TMPDIR": str(home),
        "XDG_RUNTIME_DIR": str(home),
    }
    try:
        subprocess.run(
            ["skopeo", "--insecure-policy", *args],
            env=env,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            check=True,
            capture_output=True,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def round_trip(work: Path, layout: Path, host: str, creds: list[str], i: int):
    """Seconds to push the image to a fresh repository, then to pull it back."""
    ref = f"docker://{host}/alice/big{i}:1"
    start = time.perf_counter()
    skopeo(
        work,
        "copy",
        "--dest-tls-verify=false",
        *[f"--dest-{c}" for c in creds],
        f"oci:{layout}:big",
        ref,
    )
    pushed = time.perf_counter() - start
    dest = Path(tempfile.mkdtemp(dir=work))
    os.chown(dest, NOBODY, NOBODY)
    start = time.perf_counter()
    skopeo(
        work,
        "copy",
        "--src-tls-verify=false",
        *[f"--src-{c}" for c in creds],
        ref,
        f"oci:{dest}:big",
    )
    pulled = time.perf_counter() - start
    shutil.rmtree(dest)
    return pushed, pulled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=100)
    args = parser.parse_args()
    for tool in ("skopeo", "docker-registry", "openssl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool} (apt-get install {tool})")
    work = Path(tempfile.mkdtemp(prefix="dyreg-bench-"))
    work.chmod(0o755)
    try:
        key, cert = self_signed_certificate(work)
        layout = work / "image"
        make_image(layout, args.size_mb)
        for path in [layout, *layout.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
        with (
            dockyard(work, key, cert) as dockyard_host,
            docker_registry(work, key, cert) as registry_host,
        ):
            targets = {
                "dockyard": (dockyard_host, [f"creds=alice:{PASSWORD}"]),
                "docker-registry": (registry_host, []),
            }
            results = {name: ([], []) for name in targets}
            # The two registries take turns, so a drift of the machine's speed hits both alike;
            # round 0 warms both up and is not counted.
            for i in range(args.runs + 1):
                for name, (host, creds) in targets.items():
                    pushed, pulled = round_trip(work, layout, host, creds, i)
                    if i:
                        results[name][0].append(pushed)
                        results[name][1].append(pulled)
        for name, (pushes, pulls) in results.items():
            print(summary(f"{name} push {args.size_mb} MB", pushes))
            print(summary(f"{name} pull {args.size_mb} MB", pulls))
        ours, theirs = results["dockyard"], results["docker-registry"]
        for i, what in enumerate(("push", "pull")):
            ratio = median(ours[i]) / median(theirs[i])
            paired = paired_ratio(ours[i], theirs[i])
            print(f"{what}: Dockyard takes {ratio:.2f}x docker-registry, {paired}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
