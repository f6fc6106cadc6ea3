"""Image streams: builds, and archives loaded, imported or saved."""

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from runtime.build import builder
from runtime.build import context as build_context
from runtime.errors import RuntimeFailure
from runtime.images import archive as image_archive
from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths

from ...tasks.base import node_paths
from ..context import StreamContext


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
    errorDetail line. Answers the last `aux` message."""
    aux: dict = {}
    try:
        async for message in ctx.each(produce):
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
        async with _spooled_input(ctx, paths) as spool:
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

    async with _spooled_input(ctx, paths) as spool:
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

    async with _spooled_input(ctx, paths) as spool:
        await ctx.end(await _json_lines(ctx, produce))


async def handle_image_save(ctx: StreamContext) -> None:
    paths = node_paths()
    chunks = await asyncio.to_thread(
        image_archive.save_chunks, ImageStore(paths), ctx.args["names"]
    )
    await ctx.send_all(chunks)
    await ctx.end()
