"""Choosing what to read (tail, since, until) across rotated files, on logs written here."""

import threading
import time

import pytest

from runtime.containers.layout import exit_file
from runtime.containers.logs import read_log_chunks
from runtime.containers.state import Status
from runtime.errors import InvalidInput, NotFound

from .logrecords import BASE, fake_container, lines_of, record

CID = "c" * 64


def read(paths, **options) -> bytes:
    return b"".join(data for _, data in read_log_chunks(paths, CID, **options))


def numbered(first: int, last: int, start: float = BASE) -> bytes:
    """Records of lines "first" .. "last", one second apart (line n at start + n)."""
    return b"".join(record(start + n, "stdout", b"%d" % n) for n in range(first, last + 1))


def text(first: int, last: int) -> bytes:
    return b"".join(b"%d\n" % n for n in range(first, last + 1))


@pytest.fixture
def log(runtime_paths):
    return fake_container(runtime_paths, CID)


@pytest.fixture
def rotated(log):
    """Lines 1-300 over four files: .3 has 1-100, .2 101-150, .1 151-200, the log 201-300."""
    for name, (first, last) in {
        ".3": (1, 100),
        ".2": (101, 150),
        ".1": (151, 200),
        "": (201, 300),
    }.items():
        log.with_name(log.name + name).write_bytes(numbered(first, last))
    return log


def test_rotated_files_are_read_oldest_first(runtime_paths, rotated):
    assert read(runtime_paths) == text(1, 300)


def test_tail_counts_lines_back_across_files(runtime_paths, rotated):
    assert read(runtime_paths, tail=10) == text(291, 300)
    assert read(runtime_paths, tail=150) == text(151, 300)
    assert read(runtime_paths, tail=151) == text(150, 300)
    assert read(runtime_paths, tail=250) == text(51, 300)
    assert read(runtime_paths, tail=1000) == text(1, 300)
    assert read(runtime_paths, tail=0) == b""
    assert read(runtime_paths, tail=-1) == text(1, 300)


def test_tail_counts_a_line_conmon_split_as_one(runtime_paths, log):
    long_line = b"x" * 20000 + b"\n"
    log.write_bytes(
        lines_of("stdout", b"first\n" + long_line, BASE)
        + record(BASE, "stderr", b"err")
        + record(BASE, "stdout", b"unfinished", full=False)
    )
    assert read(runtime_paths, tail=1) == b"unfinished"
    assert read(runtime_paths, tail=2) == b"err\nunfinished"
    assert read(runtime_paths, tail=3) == long_line + b"err\nunfinished"


def test_tail_of_lines_longer_than_it_first_reads(runtime_paths, log):
    lines = [bytes([ord("a") + n]) * 6000 for n in range(5)]
    log.write_bytes(b"".join(record(BASE + n, "stdout", line) for n, line in enumerate(lines)))
    assert read(runtime_paths, tail=1) == lines[4] + b"\n"
    assert read(runtime_paths, tail=3) == b"".join(line + b"\n" for line in lines[2:])


def test_since_and_until_bound_by_time_across_files(runtime_paths, rotated):
    assert read(runtime_paths, since=BASE + 150) == text(150, 300)
    assert read(runtime_paths, since=BASE + 150.5) == text(151, 300)
    assert read(runtime_paths, until=BASE + 101) == text(1, 101)
    assert read(runtime_paths, since=BASE + 120, until=BASE + 210.5) == text(120, 210)
    assert read(runtime_paths, since=BASE + 120, until=BASE + 210, tail=5) == text(206, 210)
    assert read(runtime_paths, since=BASE + 301) == b""
    assert read(runtime_paths, until=BASE) == b""


def test_since_finds_the_first_of_records_with_one_time(runtime_paths, log):
    log.write_bytes(
        b"".join(record(BASE + n // 50, "stdout", b"%d" % n) for n in range(1000))
        + record(BASE + 100, "stdout", b"last")
    )
    assert read(runtime_paths, since=BASE + 7) == text(350, 999) + b"last\n"
    assert read(runtime_paths, until=BASE + 19) == text(0, 999)


def test_a_log_still_being_written_is_read_to_its_last_whole_record(runtime_paths, log):
    log.write_bytes(numbered(1, 3) + record(BASE, "stdout", b"torn")[:20])
    assert read(runtime_paths) == text(1, 3)
    assert read(runtime_paths, tail=1) == text(3, 3)


def test_no_log_reads_as_empty_and_no_container_is_not_found(runtime_paths, log):
    assert read(runtime_paths) == b""
    assert read(runtime_paths, tail=5, since=BASE) == b""
    with pytest.raises(NotFound):
        read_log_chunks(runtime_paths, "d" * 64)


def test_a_container_without_log_cannot_be_read(runtime_paths, log):
    spec = log.with_name("spec.json")
    spec.write_text(spec.read_text().replace('"log_driver": "k8s-file"', '"log_driver": "none"'))
    with pytest.raises(InvalidInput, match="does not support reading"):
        read_log_chunks(runtime_paths, CID)


@pytest.fixture
def gigabyte(log):
    """1 GiB of 1 MiB blocks of 1000-byte lines, block k logged at BASE + k seconds."""
    line = b"%0999d" % 7
    block = numbered(0, 0).replace(b" 0\n", b" " + line + b"\n") * 1000
    template = record(BASE, "stdout", line)[:35]
    with open(log, "wb") as f:
        for k in range(1024):
            f.write(block.replace(template, record(BASE + k, "stdout", line)[:35]))
    yield line
    # pytest keeps the temporary directories of recent runs; not this file.
    log.unlink()


@pytest.mark.slow
def test_tail_and_since_of_a_gigabyte_take_well_under_a_second(runtime_paths, gigabyte):
    line = gigabyte
    began = time.monotonic()
    assert read(runtime_paths, tail=10) == (line + b"\n") * 10
    assert time.monotonic() - began < 0.5
    began = time.monotonic()
    chunks = list(read_log_chunks(runtime_paths, CID, since=BASE + 1023.5, until=BASE + 1023.5))
    assert chunks == []
    got = read(runtime_paths, since=BASE + 1022.5, until=BASE + 1023.5)
    assert got == (line + b"\n") * 1000
    assert time.monotonic() - began < 0.5


def test_follow_keeps_to_since_and_until(runtime_paths):
    log = fake_container(runtime_paths, CID, status=Status.running)
    log.write_bytes(numbered(1, 10, start=time.time() - 100))
    now = time.time()

    def write() -> None:
        with open(log, "ab") as f:
            for n in range(11, 41):
                f.write(record(now + n / 10, "stdout", b"%d" % n))
                f.flush()
                time.sleep(0.005)
        exit_file(runtime_paths, CID).parent.mkdir(parents=True, exist_ok=True)
        exit_file(runtime_paths, CID).write_text("0")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    got = read(runtime_paths, follow=True, since=now + 2.05, until=now + 3.05)
    writer.join(10)
    assert got == text(21, 30)
