import random

import pytest

from runtime.containers.logformat import Decoder, parse_time, record_time, utc_time

from .logrecords import BASE, lines_of, record, stamp


def decode(blocks: list[bytes], **options) -> list[tuple[int, bytes]]:
    decoder = Decoder(**options)
    out: list[tuple[int, bytes]] = []
    for block in blocks:
        for fd, data in decoder.decode(block):
            if out and out[-1][0] == fd:
                out[-1] = (fd, out[-1][1] + data)
            else:
                out.append((fd, data))
    return out


def reference(log: bytes, stdout=True, stderr=True, timestamps=False) -> list[tuple[int, bytes]]:
    """What Docker would show, decoded the slow, obvious way."""
    wanted = {1: stdout, 2: stderr}
    line_start = {1: True, 2: True}
    out: list[tuple[int, bytes]] = []
    for line in log.split(b"\n")[:-1]:
        time_text, stream, tag, data = line.split(b" ", 3)
        fd = 1 if stream == b"stdout" else 2
        if not wanted[fd]:
            continue
        if timestamps and line_start[fd]:
            data = utc_time(time_text.decode()).encode() + b" " + data
        data += b"\n" if tag == b"F" else b""
        line_start[fd] = tag == b"F"
        if out and out[-1][0] == fd:
            out[-1] = (fd, out[-1][1] + data)
        else:
            out.append((fd, data))
    return out


def test_lines_of_one_stream_come_back_as_written():
    text = b"".join(b"line %d of output\n" % i for i in range(5000))
    log = lines_of("stdout", text, BASE)
    assert decode([log]) == [(1, text)]


def test_partial_records_join_without_newline():
    log = record(BASE, "stdout", b"abc", full=False) + record(BASE, "stdout", b"def")
    log += record(BASE, "stdout", b"no-newline", full=False)
    assert decode([log]) == [(1, b"abcdef\nno-newline")]


def test_streams_keep_their_order_and_can_be_chosen():
    log = (
        record(BASE, "stdout", b"a")
        + record(BASE, "stderr", b"b")
        + record(BASE, "stderr", b"c")
        + record(BASE, "stdout", b"d")
    )
    assert decode([log]) == [(1, b"a\n"), (2, b"b\nc\n"), (1, b"d\n")]
    assert decode([log], stdout=False) == [(2, b"b\nc\n")]
    assert decode([log], stderr=False) == [(1, b"a\nd\n")]


def test_data_that_looks_like_headers_is_data():
    tricky = [
        b"x stderr F y",
        b" stdout P ",
        b"2026-12-04T17:00:00.123456789+00:00 stdout F ",
        b"+00:00 stdout F +00:00 stdout F ",
        b"",
    ]
    log = b"".join(record(BASE, "stdout", t) for t in tricky)
    expected = b"".join(t + b"\n" for t in tricky)
    assert decode([log]) == [(1, expected)]
    assert decode([log], timestamps=True) == reference(log, timestamps=True)


def test_timestamps_start_each_line_in_utc():
    log = record(BASE + 0.5, "stdout", b"one") + record(BASE + 1, "stderr", b"two", offset=120)
    assert decode([log], timestamps=True) == [
        (1, b"2026-11-30T00:53:20.500000000Z one\n"),
        (2, b"2026-11-30T00:53:21.000000000Z two\n"),
    ]


def test_a_split_line_gets_one_timestamp_even_across_blocks():
    first = record(BASE, "stdout", b"a" * 10, full=False)
    rest = record(BASE + 1, "stdout", b"b" * 10) + record(BASE + 2, "stdout", b"c")
    assert decode([first, rest], timestamps=True) == [
        (
            1,
            b"2026-11-30T00:53:20.000000000Z " + b"a" * 10 + b"b" * 10 + b"\n"
            b"2026-11-30T00:53:22.000000000Z c\n",
        )
    ]


def test_times_of_other_offsets_and_precisions_read_alike():
    assert record_time(stamp(BASE + 0.25, offset_minutes=-330)) == BASE + 0.25
    assert record_time(b"2026-11-30T02:53:20.5+02:00") == BASE + 0.5
    assert parse_time("2026-11-30T00:53:20Z") == BASE
    assert utc_time("2024-05-01T10:00:00.123456789+02:00") == "2024-05-01T08:00:00.123456789Z"
    log = record(BASE, "stdout", b"x").replace(b".000000000", b".5")
    assert decode([log], timestamps=True) == [(1, b"2026-11-30T00:53:20.500000000Z x\n")]


def test_malformed_lines_are_skipped():
    log = b"garbage\n" + record(BASE, "stdout", b"ok") + b"2026 stdin F x\n"
    assert decode([log]) == [(1, b"ok\n")]


def random_log(rng: random.Random, run_length: int, zones: tuple[int, ...]) -> bytes:
    """Runs of one stream, some lines split into P records, data that looks like headers."""
    log = []
    for i in range(4000 // run_length):
        stream = rng.choice(["stdout", "stderr"])
        offset = rng.choice(zones)
        for j in range(rng.randrange(1, 2 * run_length)):
            data = bytes(rng.choice(b"ab F P") for _ in range(rng.randrange(0, 30)))
            seconds = BASE + i + j / 1000
            log.append(record(seconds, stream, data, full=rng.random() > 0.05, offset=offset))
    return b"".join(log)


@pytest.mark.parametrize("run_length", [1, 300])
@pytest.mark.parametrize("zones", [(0,), (0, 60)])
def test_any_log_decodes_as_record_by_record(run_length, zones):
    rng = random.Random(run_length)
    log = random_log(rng, run_length, zones)
    lines = log.split(b"\n")[:-1]
    for options in ({}, {"timestamps": True}, {"stdout": False}, {"stderr": False}):
        cuts = sorted(rng.sample(range(1, len(lines)), 20))
        blocks = [
            b"".join(line + b"\n" for line in lines[a:b])
            for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)
        ]
        assert decode(blocks, **options) == reference(log, **options)
