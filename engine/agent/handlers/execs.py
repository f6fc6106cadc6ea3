"""Exec streams: a process started in a running container, with pipes or a pty."""

import asyncio
import contextlib
import fcntl
import os

from runtime.containers import exec as cexec
from runtime.errors import Conflict

from ...models import ExecInstance
from ...streams import wire
from ...tasks.base import node_paths
from ..context import StreamContext
from .conmon_output import MODERATED, MODERATION

# Running execs by id, so a resize sent to the agent finds its terminal.
RUNNING: dict[str, cexec.ExecProcess] = {}
READ_SIZE = 256 * 1024
# An output pipe holds what a process writes in a moderation pause at full speed.
PIPE_SIZE = 1024 * 1024
# After its client hangs up, an exec's process gets a hangup and this long to go on its own.
HANGUP_GRACE = 0.5


async def handle_exec(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    spec = cexec.ExecSpec(**a["spec"])
    detach = bool(a.get("detach"))
    proc = await asyncio.to_thread(cexec.start_exec, paths, a["cid"], spec, not detach)
    await ExecInstance.objects.filter(id=a["exec_id"]).aupdate(running=True, pid=proc.pid)
    if detach:
        await ctx.ready()
        asyncio.get_running_loop().run_in_executor(None, _finish_detached, a["exec_id"], proc)
        await ctx.end()
        return
    for fd in {proc.stdin, proc.stdout, proc.stderr} - {None}:
        os.set_blocking(fd, False)
    # Output that answers input is not held back (see conmon_output.MODERATED).
    roomy: set[int] = set()
    if not a.get("stdin"):
        roomy = {fd for fd in (proc.stdout, proc.stderr) if fd is not None and _enlarge(fd)}
    RUNNING[a["exec_id"]] = proc
    await ctx.ready()
    feeder = asyncio.create_task(_feed_exec(ctx, proc, a.get("stdin")))
    code = None
    held: list[tuple[int, bytes]] = []
    try:
        outputs = [_pump(ctx, proc.stdout, wire.STDOUT, held, proc.stdout in roomy)]
        if proc.stderr is not None:
            outputs.append(_pump(ctx, proc.stderr, wire.STDERR, held, proc.stderr in roomy))
        await asyncio.gather(*outputs)
        code = await asyncio.to_thread(_finish_exec, a["exec_id"], proc)
        await _after_exit(ctx, proc, held)
    finally:
        RUNNING.pop(a["exec_id"], None)
        feeder.cancel()
        if code is None and ctx.detached and proc.pty_fd is not None:
            # The client left with its detach keys: the process goes on, as with Docker.
            asyncio.get_running_loop().run_in_executor(None, _finish_detached, a["exec_id"], proc)
        elif code is None:
            # The client is gone (a closed browser tab, a dropped connection): end the
            # process rather than leave a shell running in the container with nobody at it.
            await asyncio.shield(asyncio.to_thread(_hang_up, a["exec_id"], proc))
    await ctx.end({"exit_code": code})


handle_exec.ready_late = True


async def handle_exec_resize(ctx: StreamContext) -> None:
    proc = RUNNING.get(ctx.args["exec_id"])
    if proc is None:
        raise Conflict(f"exec {ctx.args['exec_id']} is not running")
    proc.resize(ctx.args["h"], ctx.args["w"])
    await ctx.end()


def _enlarge(fd: int) -> bool:
    """Give an output pipe room for what comes during a moderation pause; False for a pty."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        return False
    return True


async def _pump(ctx: StreamContext, fd: int, stream: int, held: list, moderate: bool) -> None:
    """The output of `fd` to the client; a first chunk that may be crun's failure to start
    the process waits in `held` until more output or the exit code tells which it was."""
    first = True
    while data := await _read(fd):
        if first and cexec.looks_like_crun_failure(data):
            held.append((stream, data))
        else:
            await _release(ctx, held, stream)
            await ctx.data(data, stream)
        first = False
        if moderate and len(data) < MODERATED:
            # As for attach (conmon_output): output gathers a moment instead of a loop pass
            # and a frame per pipe write; 100 MiB of `docker exec` cost the agent 0.1 s of CPU
            # instead of 0.5 s and took 0.87 s instead of 1.38 s (medians of 5 runs of
            # bench/streams.py's exec on a loaded 2-core machine).
            await asyncio.sleep(MODERATION)


async def _release(ctx: StreamContext, held: list, stream: int) -> None:
    for item in [item for item in held if item[0] == stream]:
        held.remove(item)
        await ctx.data(item[1], stream)


async def _after_exit(ctx: StreamContext, proc: cexec.ExecProcess, held: list) -> None:
    """Docker's words, where crun's were, for a process that never ran (dockerd writes them
    to stdout); otherwise the output held back, which was the process's own."""
    if proc.failure is not None:
        held.clear()
        await ctx.data(proc.failure.message.encode() + b"\r\n", wire.STDOUT)
    for stream in (wire.STDOUT, wire.STDERR):
        await _release(ctx, held, stream)


async def _read(fd: int) -> bytes:
    """The next bytes from a non-blocking fd; b"" at its end (EIO: a pty whose side closed)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, READ_SIZE)
        except BlockingIOError:
            await _ready(loop.add_reader, loop.remove_reader, fd)
        except OSError:
            return b""


async def _write(fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _ready(loop.add_writer, loop.remove_writer, fd)


async def _ready(add, remove, fd: int) -> None:
    waiter = asyncio.get_running_loop().create_future()
    add(fd, lambda: waiter.done() or waiter.set_result(None))
    try:
        await waiter
    finally:
        remove(fd)


def _finish_exec(exec_id: str, proc: cexec.ExecProcess) -> int:
    code = proc.wait()
    proc.close()
    ExecInstance.objects.filter(id=exec_id).update(running=False, exit_code=code)
    return code


def _finish_detached(exec_id: str, proc: cexec.ExecProcess) -> None:
    proc.discard_output()
    _finish_exec(exec_id, proc)


def _hang_up(exec_id: str, proc: cexec.ExecProcess) -> None:
    proc.hang_up(HANGUP_GRACE)
    _finish_exec(exec_id, proc)


async def _feed_exec(ctx: StreamContext, proc: cexec.ExecProcess, stdin: bool) -> None:
    while True:
        message = await ctx.input.get()
        if message["type"] == "stream.input" and stdin:
            with contextlib.suppress(OSError):
                await _write(proc.stdin, message["data"])
        elif message["type"] == "stream.resize":
            proc.resize(message["h"], message["w"])
        elif message["type"] in ("stream.eof", "stream.cancel"):
            proc.close_stdin()
