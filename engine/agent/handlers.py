"""What the agent does for each kind of stream; all talk to the runtime on this node."""

import asyncio
import contextlib
import json
import os
import select
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from runtime.build import builder
from runtime.build import context as build_context
from runtime.containers import archive, attach, logs, stats
from runtime.containers import exec as cexec
from runtime.errors import InvalidInput, NotFound, RuntimeFailure
from runtime.images import archive as image_archive
from runtime.images.store import ImageStore

from ..events import Subscription, container_group
from ..models import Container, ExecInstance
from ..streams.client import CHUNK
from ..tasks.base import node_paths
from ..tasks.networks import network_manager
from .context import StreamContext
from .statsjson import stats_json

STREAMS = {"stdout": 1, "stderr": 2}
# Running exec streams by exec id, so a resize sent to the agent finds its terminal.
EXEC_STREAMS: dict[str, StreamContext] = {}


# Attach streams still reading each container's output.
ATTACHED: dict[str, set[asyncio.Event]] = {}


async def attach_drained(cid: str, timeout: float) -> None:
    """Return once every attach of `cid` has read the container's output to the end."""
    pending = [done.wait() for done in ATTACHED.get(cid, ())]
    if pending:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*pending), timeout)


async def _start_offset(cid: str, generation: int) -> int | None:
    """The log offset of the first start after `generation`, once it has happened."""
    async with Subscription([container_group(cid)]) as sub:
        while True:
            c = await Container.objects.filter(id=cid).afirst()
            if c is None:
                return None
            if c.start_count > generation:
                return c.log_start_offset
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.next(), 1.0)


async def handle_attach(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    cid = a["cid"]
    feeder = asyncio.create_task(_feed_stdin(ctx, cid)) if a.get("stdin") else None
    wanted = {fd for name, fd in STREAMS.items() if a.get(name)}
    done = asyncio.Event()
    ATTACHED.setdefault(cid, set()).add(done)
    try:
        if a.get("running"):
            offset = await asyncio.to_thread(logs.log_offset, paths, cid)
        else:
            offset = await _start_offset(cid, a.get("generation", 0))
        if offset is not None and wanted:
            produce = lambda: logs.follow_output(paths, cid, offset, ctx.cancelled)  # noqa: E731
            async for entry in await ctx.each(produce):
                fd = STREAMS.get(entry.stream, 1)
                if fd in wanted:
                    await ctx.data(entry.data, fd)
        elif feeder:
            await feeder
    finally:
        done.set()
        ATTACHED[cid].discard(done)
        if not ATTACHED[cid]:
            del ATTACHED[cid]
        if feeder and not feeder.done():
            feeder.cancel()
    await ctx.end()


async def _feed_stdin(ctx: StreamContext, cid: str) -> None:
    paths = node_paths()
    sock = await asyncio.to_thread(attach.open_stdin, paths, cid, 60.0)
    try:
        while True:
            message = await ctx.input.get()
            if message["type"] == "stream.input":
                await asyncio.to_thread(attach.write_stdin, sock, message["data"])
            elif message["type"] == "stream.resize":
                await asyncio.to_thread(attach.resize, paths, cid, message["h"], message["w"])
            else:
                attach.close_stdin(sock)
                return
    finally:
        with contextlib.suppress(OSError):
            sock.close()


async def handle_logs(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    wanted = {fd for name, fd in STREAMS.items() if a.get(name)}

    def produce():
        return logs.read_logs(
            paths,
            a["cid"],
            since=a.get("since"),
            until=a.get("until"),
            tail=a.get("tail"),
            follow=a.get("follow", False),
            stop=ctx.cancelled,
        )

    async for entry in await ctx.each(produce):
        fd = STREAMS.get(entry.stream, 1)
        if fd in wanted:
            prefix = f"{entry.time} ".encode() if a.get("timestamps") else b""
            await ctx.data(prefix + entry.data, fd)
    await ctx.end()


async def handle_stats(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    networks = network_manager(paths)
    previous = None
    while not ctx.cancelled.is_set():
        try:
            current = await asyncio.to_thread(stats.read_stats, paths, a["cid"])
        except NotFound:
            break
        report = stats_json(a, current, previous)
        report["networks"] = await asyncio.to_thread(networks.traffic, a["cid"])
        await ctx.data(json.dumps(report).encode() + b"\n")
        if not a.get("stream", True):
            break
        previous = current
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.input.get(), 1.0)
    await ctx.end()


async def handle_exec(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    spec = cexec.ExecSpec(**a["spec"])
    proc = await asyncio.to_thread(cexec.start_exec, paths, a["cid"], spec)
    await ExecInstance.objects.filter(id=a["exec_id"]).aupdate(running=True, pid=proc.pid)
    if a.get("detach"):
        asyncio.get_running_loop().run_in_executor(None, _finish_exec, a["exec_id"], proc)
        await ctx.end()
        return
    EXEC_STREAMS[a["exec_id"]] = ctx
    feeder = asyncio.create_task(_feed_exec(ctx, proc, a.get("stdin")))
    try:
        async for fd, data in await ctx.each(lambda: exec_output(proc)):
            await ctx.data(data, fd)
        code = await asyncio.to_thread(_finish_exec, a["exec_id"], proc)
    finally:
        EXEC_STREAMS.pop(a["exec_id"], None)
        feeder.cancel()
    await ctx.end({"exit_code": code})


def exec_output(proc) -> Iterator[tuple[int, bytes]]:
    """(fd, data) from an exec's stdout and stderr (one pty with a tty) until both close."""
    open_fds = {proc.stdout: 1}
    if proc.stderr is not None:
        open_fds[proc.stderr] = 2
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [])
        for source in ready:
            try:
                data = os.read(source, CHUNK)
            except OSError:  # EIO: the pty's other side is gone
                data = b""
            if data:
                yield open_fds[source], data
            else:
                del open_fds[source]


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        while data:
            data = data[os.write(fd, data) :]


def _finish_exec(exec_id: str, proc) -> int:
    code = proc.wait()
    ExecInstance.objects.filter(id=exec_id).update(running=False, exit_code=code)
    return code


async def _feed_exec(ctx: StreamContext, proc, stdin: bool) -> None:
    while True:
        message = await ctx.input.get()
        if message["type"] == "stream.input" and stdin:
            await asyncio.to_thread(_write_all, proc.stdin, message["data"])
        elif message["type"] == "stream.resize":
            proc.resize(message["h"], message["w"])
        elif message["type"] in ("stream.eof", "stream.cancel"):
            proc.close_stdin()


async def handle_archive_get(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    stat, chunks = await asyncio.to_thread(archive.get_archive, paths, a["cid"], a["path"])
    async for chunk in await ctx.each(lambda: chunks):
        await ctx.data(chunk)
    await ctx.end({"stat": stat.__dict__})


async def handle_archive_put(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    read_fd, write_fd = os.pipe()
    failure: list[Exception] = []

    def consume() -> None:
        with os.fdopen(read_fd, "rb") as source:
            try:
                archive.put_archive(paths, a["cid"], a["path"], source)
            except Exception as e:  # reported to the client below
                failure.append(e)
            # drain so the writer never blocks on a consumer that gave up
            while source.read(65536):
                pass

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    with os.fdopen(write_fd, "wb") as sink:
        while True:
            message = await ctx.input.get()
            if message["type"] != "stream.input":
                break
            await asyncio.to_thread(sink.write, message["data"])
    await asyncio.to_thread(worker.join)
    if failure:
        e = failure[0]
        status = 404 if isinstance(e, NotFound) else 400 if isinstance(e, InvalidInput) else 500
        await ctx.error(status, str(e))
        return
    await ctx.end()


async def _spool_input(ctx: StreamContext, sink) -> None:
    """Write the stream's input to `sink` until the client's end of input."""
    while True:
        message = await ctx.input.get()
        if message["type"] != "stream.input":
            return
        await asyncio.to_thread(sink.write, message["data"])


async def _json_lines(ctx: StreamContext, produce) -> dict:
    """Send each message `produce()` yields as a JSON line; a failure becomes Docker's
    errorDetail line. Answers the last `aux` message."""
    aux: dict = {}
    try:
        async for message in await ctx.each(produce):
            aux = message.get("aux", aux)
            await ctx.data(json.dumps(message).encode() + b"\n")
    except RuntimeFailure as e:
        error = {"errorDetail": {"message": str(e)}, "error": str(e)}
        await ctx.data(json.dumps(error).encode() + b"\n")
        return {"error": str(e)}
    return aux


async def handle_build(ctx: StreamContext) -> None:
    paths = node_paths()
    workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="build-", dir=paths.tmp)
    try:
        with tempfile.TemporaryFile(dir=paths.tmp) as spool:
            await _spool_input(ctx, spool)
            await asyncio.to_thread(spool.seek, 0)
            context = Path(workdir) / "context"
            failure = await _json_lines(
                ctx, lambda: iter(build_context.prepare(spool, context, ctx.args))
            )
        if failure.get("error"):
            await ctx.end(failure)
            return
        options = builder.BuildOptions(**ctx.args["options"])
        result = await _json_lines(ctx, lambda: builder.Builder(paths, context, options).run())
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    await ctx.end(result)


async def handle_image_load(ctx: StreamContext) -> None:
    paths = node_paths()

    def produce():
        loaded = image_archive.load_archive(ImageStore(paths), spool, ctx.args["max_bytes"])
        for image in loaded:
            for tag in image.tags or [image.id]:
                prefix = "Loaded image ID" if tag == image.id else "Loaded image"
                yield {"stream": f"{prefix}: {tag}\n"}

    with tempfile.TemporaryFile(dir=paths.tmp) as spool:
        await _spool_input(ctx, spool)
        await asyncio.to_thread(spool.seek, 0)
        await ctx.end(await _json_lines(ctx, produce))


async def handle_image_import(ctx: StreamContext) -> None:
    paths = node_paths()
    a = ctx.args

    def produce():
        store = ImageStore(paths)
        config = {"config": builder.apply_changes(paths, {"config": {}}, a["changes"])["config"]}
        image = image_archive.import_rootfs(
            store, spool, config, a["message"], a["tags"], a["max_bytes"]
        )
        yield {"status": image.id, "aux": {"ID": image.id}}

    with tempfile.TemporaryFile(dir=paths.tmp) as spool:
        await _spool_input(ctx, spool)
        await asyncio.to_thread(spool.seek, 0)
        await ctx.end(await _json_lines(ctx, produce))


async def handle_image_save(ctx: StreamContext) -> None:
    paths = node_paths()
    chunks = await asyncio.to_thread(
        image_archive.save_chunks, ImageStore(paths), ctx.args["names"]
    )
    async for chunk in await ctx.each(lambda: chunks):
        await ctx.data(chunk)
    await ctx.end()


async def handle_container_export(ctx: StreamContext) -> None:
    paths = node_paths()
    _, chunks = await asyncio.to_thread(archive.get_archive, paths, ctx.args["cid"], "/")
    async for chunk in await ctx.each(lambda: chunks):
        await ctx.data(chunk)
    await ctx.end()


HANDLERS = {
    "attach": handle_attach,
    "logs": handle_logs,
    "stats": handle_stats,
    "exec": handle_exec,
    "archive_get": handle_archive_get,
    "archive_put": handle_archive_put,
    "build": handle_build,
    "image_load": handle_image_load,
    "image_import": handle_image_import,
    "image_save": handle_image_save,
    "container_export": handle_container_export,
}
