import os
import shutil
import uuid
from pathlib import Path

import pytest

from runtime import cgroups
from runtime.containers import lifecycle
from runtime.containers.spec import ContainerSpec

APPLETS = [
    "sh", "echo", "sleep", "cat", "ls", "true", "false", "hostname", "mount", "ps", "id",
    "head", "tail", "dd", "ln", "mkdir", "printf", "yes", "wc", "grep", "stat", "readlink",
    "seq", "kill", "env", "pwd", "touch", "rm", "tr", "cut", "test",
    "stty", "tty", "uname",
]  # fmt: skip


@pytest.fixture(scope="session")
def lowerdir(tmp_path_factory) -> Path:
    """A one-layer busybox image: enough of a root filesystem for every test here."""
    root = tmp_path_factory.mktemp("busybox-layer")
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "home/app", "var/empty"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "app:x:1234:2345:app:/home/app:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/var/empty:/bin/false\n"
    )
    (root / "etc" / "group").write_text(
        "root:x:0:\nappgrp:x:2345:\nextra:x:3456:app\nnogroup:x:65534:\n"
    )
    return root


@pytest.fixture
def containers(runtime_paths, lowerdir):
    """Creates containers with a unique id each; removes all of them at teardown."""
    cgroups.prepare_host()
    made: list[str] = []

    def make(*args: str, start: bool = False, **kwargs) -> str:
        cid = "dyt" + uuid.uuid4().hex
        spec = ContainerSpec(args=list(args), **kwargs)
        lifecycle.create(runtime_paths, cid, spec, [lowerdir])
        made.append(cid)
        if start:
            lifecycle.start(runtime_paths, cid)
        return cid

    yield make
    for cid in made:
        try:
            lifecycle.remove(runtime_paths, cid, force=True)
        except Exception:
            pass
