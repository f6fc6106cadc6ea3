"""Tar streams of container paths: docker cp in and out, docker export."""

import asyncio
import os
import threading

from runtime.containers import archive
from runtime.errors import Forbidden, InvalidInput, NotFound

from ...tasks.base import node_paths
from ..context import StreamContext


async def handle_archive_get(ctx: StreamContext) -> None:
    """A path's tar; with `max_bytes`, the stream fails rather than go past it."""
    a = ctx.args
    paths = node_paths()
    _, chunks = await asyncio.to_thread(
        archive.get_archive, paths, a["cid"], a["path"], a.get("max_bytes")
    )
    await ctx.send_all(chunks)
    await ctx.end()


async def handle_archive_file(ctx: StreamContext) -> None:
    """One regular file's content, for a download of that file; refused up front when it is
    over `max_bytes`."""
    a = ctx.args
    paths = node_paths()
    _, chunks = await asyncio.to_thread(
        archive.open_file, paths, a["cid"], a["path"], a.get("max_bytes")
    )
    await ctx.send_all(chunks)
    await ctx.end()


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
        kinds = ((NotFound, 404), (Forbidden, 403), (InvalidInput, 400))
        status = next((code for kind, code in kinds if isinstance(e, kind)), 500)
        await ctx.error(status, str(e))
        return
    await ctx.end()


async def handle_container_export(ctx: StreamContext) -> None:
    paths = node_paths()
    _, chunks = await asyncio.to_thread(archive.get_archive, paths, ctx.args["cid"], "/")
    await ctx.send_all(chunks)
    await ctx.end()
