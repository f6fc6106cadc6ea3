"""Batches hand a fast stream over in few messages and hold little for a slow one."""

import asyncio

from webui.batching import Batches, TextRuns


async def idle() -> None:
    """Let every task that can run do so; nothing here waits on a clock or on I/O."""
    for _ in range(200):
        await asyncio.sleep(0)


def test_a_chunk_after_a_quiet_spell_goes_at_once_and_the_next_waits_its_turn():
    async def body():
        batches = Batches(limit=1000, interval=3600)
        await batches.put(1, b"first")
        assert await asyncio.wait_for(batches.take(), 5) == [(1, b"first")]

        await batches.put(1, b"second")
        later = asyncio.create_task(batches.take())
        await idle()
        assert not later.done(), "a batch went before its interval"
        await batches.put(2, b"x" * 1000)
        assert await asyncio.wait_for(later, 5) == [(1, b"second"), (2, b"x" * 1000)]

        await batches.put(1, b"last")
        final = asyncio.create_task(batches.take())
        await idle()
        batches.end()
        assert await asyncio.wait_for(final, 5) == [(1, b"last")]
        assert await asyncio.wait_for(batches.take(), 5) == []

    asyncio.run(body())


def test_a_producer_waits_while_a_full_batch_is_not_taken():
    async def body():
        batches = Batches(limit=64 * 1024, interval=0.05)
        put = 0

        async def produce():
            nonlocal put
            while True:
                await batches.put(1, b"y" * 1024)
                put += 1024

        producer = asyncio.create_task(produce())
        await idle()
        assert not producer.done()
        held = put
        assert 64 * 1024 <= held == batches.size <= 65 * 1024
        taken = await asyncio.wait_for(batches.take(), 5)
        assert sum(len(data) for _, data in taken) == held
        await idle()
        assert put > held, "the producer did not go on once there was room"
        producer.cancel()

    asyncio.run(body())


def test_text_runs_keep_the_order_of_streams_and_characters_split_between_chunks():
    runs = TextRuns()
    word = "déjà vu\n".encode()
    assert runs.runs([(1, word[:2]), (1, b""), (2, b"err\n")]) == [[1, "d"], [2, "err\n"]]
    assert runs.runs([(1, word[2:]), (1, b"more\n"), (2, b"e"), (1, b"!")]) == [
        [1, "éjà vu\nmore\n"],
        [2, "e"],
        [1, "!"],
    ]
    assert runs.runs([(2, "é".encode()[:1])], final=True) == [[2, "\ufffd"]]
