"""The containers a build's steps run in: RUN's, with its network, and the ones COPY and ADD
write into; each leaves its upperdir as the step's layer and is removed, endpoint and all.

RUN is plugged into the node's default bridge like Docker's classic builder does it, so a
package manager reaches its mirror; `none` gives it a namespace with loopback only, `host`
the node's own. The bind-mounted /etc files a network brings are not part of the image: the
empty files a mount creates where the image had none are taken out of the layer, as Docker
keeps such mount points in a layer of the container's own.
"""

import contextlib
import os
import secrets
import shutil
import socket
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from runtime.build.cache import cache_dir
from runtime.build.context import resolve_inside
from runtime.build.copying import tar_bytes
from runtime.build.state import BuildFailure, BuildState
from runtime.containers import archive, layout, lifecycle, logs
from runtime.containers.ocimounts import ETC_FILES
from runtime.containers.spec import ContainerSpec
from runtime.errors import NotFound, RuntimeFailure
from runtime.images.model import Image, LayerInfo
from runtime.images.store import ImageStore
from runtime.layers.export import write_layer
from runtime.network import NetworkManager, write_etc_files
from runtime.network import links as netlinks
from runtime.paths import RuntimePaths


class StepContainers:
    def __init__(
        self,
        paths: RuntimePaths,
        store: ImageStore,
        network: str,
        networks: NetworkManager | None,
    ) -> None:
        self.paths = paths
        self.store = store
        self.network = network
        self.networks = networks

    def run(self, state: BuildState, spec: ContainerSpec, shown: str) -> Iterator[dict]:
        """Run `spec` on `state` and yield its output; returns the layer it leaves."""
        cid = secrets.token_hex(32)
        spec.hostname = cid[:12]
        yield {"stream": f" ---> Running in {cid[:12]}\n"}
        lowerdirs = self.lowerdirs(state)
        with self._network(cid) as (network_ns, etc_dir):
            spec.network_ns, spec.etc_dir = network_ns, etc_dir
            try:
                lifecycle.create(self.paths, cid, spec, lowerdirs)
                self._ensure_dir(cid, spec.cwd)
                try:
                    lifecycle.start(self.paths, cid)
                except RuntimeFailure as err:
                    raise BuildFailure(f"The command '{shown}' could not start: {err}") from None
                for entry in logs.follow_output(self.paths, cid, 0):
                    yield {"stream": entry.data.decode("utf-8", errors="replace")}
                final = lifecycle.wait(self.paths, cid)
                if final.exit_code != 0:
                    raise BuildFailure(
                        f"The command '{shown}' returned a non-zero code: {final.exit_code}"
                    )
                if etc_dir is not None:
                    self._drop_mount_points(cid, lowerdirs)
                layer = self._layer_from(cid)
            finally:
                self.remove(cid)
        yield {"stream": f"Removing intermediate container {cid[:12]}\n"}
        return layer

    def write(self, state: BuildState, tars: Callable[[Path], list[bytes]]) -> LayerInfo:
        """The layer left by writing `tars(rootfs)` into a container of `state`."""
        cid = secrets.token_hex(32)
        try:
            lifecycle.create(self.paths, cid, ContainerSpec(args=["true"]), self.lowerdirs(state))
            for tar in tars(layout.rootfs(self.paths, cid)):
                archive.put_archive(self.paths, cid, "/", [tar])
            return self._layer_from(cid)
        finally:
            self.remove(cid)

    def mount(self, state: BuildState) -> tuple[str, Path]:
        """A container of `state` to read from (COPY --from), and its rootfs; `remove` it."""
        cid = secrets.token_hex(32)
        lifecycle.create(self.paths, cid, ContainerSpec(args=["true"]), self.lowerdirs(state))
        return cid, layout.rootfs(self.paths, cid)

    def remove(self, cid: str) -> None:
        try:
            lifecycle.remove(self.paths, cid, force=True)
        except NotFound:
            pass

    def lowerdirs(self, state: BuildState) -> list[Path]:
        if state.layers:
            image = Image(
                id=state.image_id, manifest_digest="", config=state.config, layers=state.layers
            )
            return self.store.snapshots.dirs(image)
        empty = cache_dir(self.paths) / "empty"
        empty.mkdir(parents=True, exist_ok=True)
        return [empty]

    @contextlib.contextmanager
    def _network(self, cid: str) -> Iterator[tuple[str | None, str | None]]:
        """(network_ns, etc_dir) for RUN's container; its endpoint and files go afterwards."""
        if self.network == "none":
            yield None, None
            return
        if self.networks is None:
            raise BuildFailure("this node's builder has no network; build with --network none")
        etc = self.networks.etc_dir(cid)
        if self.network == "host":
            try:
                write_etc_files(etc, socket.gethostname(), None)
                yield "host", str(etc)
            finally:
                shutil.rmtree(etc, ignore_errors=True)
            return
        try:
            default = self.networks.ensure_default()
            self.networks.connect(cid, default.id, hostname=cid[:12])
            yield netlinks.netns_path(self.networks.netns_name(cid)), str(etc)
        finally:
            self.networks.remove_netns(cid)

    def _ensure_dir(self, cid: str, path: str) -> None:
        root = layout.rootfs(self.paths, cid)
        if path in ("", "/") or resolve_inside(root, path).exists():
            return
        info = tar_bytes([_directory(path.strip("/"))])
        archive.put_archive(self.paths, cid, "/", [info])

    def _drop_mount_points(self, cid: str, lowerdirs: list[Path]) -> None:
        """Take out of the upperdir the empty /etc files crun made to mount the network's
        over, where the image had none (and /etc itself if it was made for them alone)."""
        upper = self.paths.container(cid) / "upper"
        try:
            fd = os.open(upper / "etc", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return
        try:
            for name in ETC_FILES:
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                made = stat.S_ISREG(st.st_mode) and st.st_size == 0
                if made and not _in_image(lowerdirs, f"etc/{name}"):
                    os.unlink(name, dir_fd=fd)
            empty = not os.listdir(fd)
        finally:
            os.close(fd)
        if empty and not _in_image(lowerdirs, "etc"):
            os.rmdir(upper / "etc")

    def _layer_from(self, cid: str) -> LayerInfo:
        fd, tmp = tempfile.mkstemp(prefix="build-", suffix=".tar", dir=self.paths.tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                write_layer(self.paths.container(cid) / "upper", out)
            return self.store.add_layer(Path(tmp))
        finally:
            os.unlink(tmp)


def _in_image(lowerdirs: list[Path], relpath: str) -> bool:
    """Whether a lower layer has `relpath`, looked up without following any symlink."""
    parts = relpath.split("/")
    for lower in lowerdirs:
        current = lower
        for i, part in enumerate(parts):
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                break
            if i == len(parts) - 1:
                return True
            if not stat.S_ISDIR(st.st_mode):
                break
    return False


def _directory(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info
