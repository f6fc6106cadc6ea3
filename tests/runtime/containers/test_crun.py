import errno
import os
import subprocess

import pytest

from runtime.containers import crun


def test_the_crun_that_runs_containers_cannot_be_rewritten():
    # What CVE-2019-5736 abused: a container writing to the runtime binary it was started by.
    fd = os.open(crun.binary(), os.O_WRONLY)
    try:
        with pytest.raises(PermissionError) as raised:
            os.write(fd, b"\x7fELF")
    finally:
        os.close(fd)
    assert raised.value.errno == errno.EPERM


@pytest.mark.privileged
def test_the_sealed_copy_runs_as_crun_itself():
    copy = subprocess.run(
        [crun.binary(), "--version"], capture_output=True, text=True, pass_fds=(crun.binary_fd(),)
    )
    installed = subprocess.run([crun.INSTALLED, "--version"], capture_output=True, text=True)
    assert copy.returncode == 0
    assert copy.stdout == installed.stdout
