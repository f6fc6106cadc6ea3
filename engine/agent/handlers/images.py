"""Image streams: builds, and archives loaded, imported or saved."""

import asyncio
import contextlib
import io
import json
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from runtime.build import builder, metadata
from runtime.build import context as build_context
from runtime.errors import InvalidInput, RuntimeFailure
from runtime.images import archive as image_archive
from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths

from ...tasks.base import node_paths
from ...tasks.networks import network_manager
from ..context import StreamContext

log = logging.getLogger(__name__)
# What the context's unpacking reads at a time: the size of the frames the API sends.
CONTEXT_READ = 256 * 1024
INPUT_POLL = 1.0


@contextlib.asynccontextmanager
async def _spooled_input(ctx: StreamContext, paths: RuntimePaths) -> AsyncIterator:
    """The stream's input up to the client's end of input, in a rewound temporary file."""
    with tempfile.TemporaryFile(dir=paths.tmp) as spool:
        while (message := await ctx.input.get())["type"] == "stream.input":
            await asyncio.to_thread(spool.write, message["data"])
        await asyncio.to_thread(spool.seek, 0)
        yield spool


async def _json_lines(ctx: StreamContext, produce) -> dict:
    """Send each message `produce()` yields as a JSON line; a failure becomes Docker's
    errorDetail line, the last of the stream. Answers the last `aux` message."""
    aux: dict = {}
    try:
        async for message in ctx.each(produce):
            aux = message.get("aux", aux)
            await ctx.data(json.dumps(message).encode() + b"\n")
    except RuntimeFailure as e:
        return await _error_line(ctx, str(e))
    except (ConnectionError, asyncio.CancelledError):
        raise
    except Exception as e:
        # Whatever went wrong, the client is told in the stream it reads (docker-py raises
        # BuildError from this line; a cut stream would leave it with a parse error).
        log.exception("an image stream failed")
        return await _error_line(ctx, f"{type(e).__name__}: {e}")
    return aux


async def _error_line(ctx: StreamContext, message: str) -> dict:
    error = {"errorDetail": {"message": message}, "error": message}
    await ctx.data(json.dumps(error).encode() + b"\n")
    return {"error": message}


class _InputReader(io.RawIOBase):
    """The stream's input as a blocking file, for a worker thread: what the client sends is
    unpacked while it arrives, never spooled whole first."""

    def __init__(self, ctx: StreamContext, loop: asyncio.AbstractEventLoop) -> None:
        self._ctx, self._loop = ctx, loop
        self._pending = memoryview(b"")
        self._over = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending and not self._over:
            message = asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
            if message is None or message["type"] == "stream.cancel":
                if self._ctx.cancelled.is_set():
                    raise InvalidInput("the client went away while sending the build context")
            elif message["type"] == "stream.input":
                self._pending = memoryview(message["data"])
            elif message["type"] == "stream.eof":
                self._over = True
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    async def _next(self) -> dict | None:
        """The next input message, or None after a while without one: the thread then looks
        whether the stream was cancelled (a cancel message may not fit in a full queue)."""
        try:
            async with asyncio.timeout(INPUT_POLL):
                return await self._ctx.input.get()
        except TimeoutError:
            return None


async def handle_build(ctx: StreamContext) -> None:
    paths = node_paths()
    workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="build-", dir=paths.tmp)
    try:
        reader = io.BufferedReader(_InputReader(ctx, asyncio.get_running_loop()), CONTEXT_READ)
        try:
            context = await asyncio.to_thread(
                build_context.receive_context,
                reader,
                Path(workdir),
                ctx.args,
                ctx.args["max_bytes"],
            )
        except RuntimeFailure as e:
            await ctx.end(await _error_line(ctx, str(e)))
            return
        options = builder.BuildOptions(**ctx.args["options"])
        networks = network_manager(paths)
        result = await _json_lines(
            ctx, lambda: builder.Builder(paths, context, options, networks).run()
        )
        # The client has its answer before the context is removed: removing 100 MB of
        # files just written took up to 2 s here, as long as the rest of a cached build.
        await ctx.end(result)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def handle_image_load(ctx: StreamContext) -> None:
    paths = node_paths()

    def produce():
        loaded = image_archive.load_archive(ImageStore(paths), spool, ctx.args["max_bytes"])
        for image in loaded:
            for tag in image.tags or [image.id]:
                prefix = "Loaded image ID" if tag == image.id else "Loaded image"
                yield {"stream": f"{prefix}: {tag}\n"}

    async with _spooled_input(ctx, paths) as spool:
        await ctx.end(await _json_lines(ctx, produce))


async def handle_image_import(ctx: StreamContext) -> None:
    paths = node_paths()
    a = ctx.args

    def produce():
        store = ImageStore(paths)
        config = {"config": metadata.apply_changes({"config": {}}, a["changes"])["config"]}
        image = image_archive.import_rootfs(
            store, spool, config, a["message"], a["tags"], a["max_bytes"]
        )
        yield {"status": image.id, "aux": {"ID": image.id}}

    async with _spooled_input(ctx, paths) as spool:
        await ctx.end(await _json_lines(ctx, produce))


async def handle_image_save(ctx: StreamContext) -> None:
    paths = node_paths()
    chunks = await asyncio.to_thread(
        image_archive.save_chunks, ImageStore(paths), ctx.args["names"]
    )
    await ctx.send_all(chunks)
    await ctx.end()
