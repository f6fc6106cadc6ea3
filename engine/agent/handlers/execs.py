"""Exec streams: a process started in a running container, with pipes or a pty."""

import asyncio
import contextlib
import os
import select
from collections.abc import Iterator

from runtime.containers import exec as cexec

from ...models import ExecInstance
from ...streams.client import CHUNK
from ...tasks.base import node_paths
from ..context import StreamContext

# Running exec streams by exec id, so a resize sent to the agent finds its terminal.
EXEC_STREAMS: dict[str, StreamContext] = {}


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
