"""A log cut to its limit keeps the newest whole lines, and nothing older than a gap."""

from runtime.containers.logtrim import keep_newest
from tests.runtime.containers.logrecords import BASE, lines_of, record


def numbered(first: int, last: int) -> bytes:
    return b"".join(record(BASE + n, "stdout", b"%d" % n) for n in range(first, last + 1))


def test_files_within_the_limit_are_left_alone(tmp_path):
    live, older, remnant = tmp_path / "log", tmp_path / "log.1", tmp_path / "log.2"
    live.write_bytes(numbered(11, 20))
    older.write_bytes(numbered(1, 10))
    remnant.write_bytes(record(BASE, "stdout", b"begun", full=False))
    budget = len(live.read_bytes()) + len(older.read_bytes())
    keep_newest([live, older], budget, remnant)
    assert live.read_bytes() == numbered(11, 20)
    assert older.read_bytes() == numbered(1, 10)
    assert remnant.exists()


def test_a_file_past_the_limit_keeps_its_newest_lines_and_older_files_go(tmp_path):
    live, older, remnant = tmp_path / "log", tmp_path / "log.1", tmp_path / "log.2"
    live.write_bytes(numbered(1001, 2000))
    older.write_bytes(numbered(1, 1000))
    remnant.write_bytes(record(BASE, "stdout", b"begun", full=False))
    one = len(record(BASE + 1500, "stdout", b"1500"))
    keep_newest([live, older], 100 * one + one // 2, remnant)
    assert live.read_bytes() == numbered(1901, 2000)
    assert not older.exists() and not remnant.exists()


def test_the_newest_file_within_the_limit_stays_whole_and_the_next_is_cut(tmp_path):
    live, older, oldest = tmp_path / "log", tmp_path / "log.1", tmp_path / "log.2"
    live.write_bytes(numbered(2001, 2010))
    older.write_bytes(numbered(1001, 2000))
    oldest.write_bytes(numbered(1, 1000))
    room = len(numbered(2001, 2010)) + len(numbered(1991, 2000))
    keep_newest([live, older, oldest], room, tmp_path / "log.3")
    assert live.read_bytes() == numbered(2001, 2010)
    assert older.read_bytes() == numbered(1991, 2000)
    assert not oldest.exists()


def test_a_cut_never_starts_inside_a_line_split_into_records(tmp_path):
    log = tmp_path / "log"
    long_line = b"x" * 20000 + b"\n"
    split = lines_of("stdout", long_line, BASE)
    assert split.count(b" P ") == 2
    after = numbered(1, 3)
    log.write_bytes(split + after)
    # The limit falls inside the long line's records: the cut starts after them.
    keep_newest([log], len(after) + 100, tmp_path / "log.1")
    assert log.read_bytes() == after


def test_a_file_whose_last_line_is_longer_than_the_room_goes(tmp_path):
    log, older = tmp_path / "log", tmp_path / "log.1"
    log.write_bytes(lines_of("stdout", b"y" * 20000 + b"\n", BASE))
    older.write_bytes(numbered(1, 10))
    keep_newest([log, older], 1000, tmp_path / "log.2")
    assert not log.exists() and not older.exists()


def test_missing_files_are_skipped(tmp_path):
    live, gone = tmp_path / "log", tmp_path / "log.1"
    live.write_bytes(numbered(1, 5))
    keep_newest([gone, live], 10**6, tmp_path / "log.2")
    assert live.read_bytes() == numbered(1, 5)


def test_a_file_dropped_whole_leaves_the_beginning_of_the_line_the_next_one_finishes(tmp_path):
    live, older, remnant = tmp_path / "log", tmp_path / "log.1", tmp_path / "log.2"
    begun = record(BASE + 9, "stdout", b"the beginn", full=False)
    older.write_bytes(numbered(1, 8) + begun)
    live.write_bytes(record(BASE + 9, "stdout", b"ing") + numbered(10, 20))
    remnant.write_bytes(b"the oldest file's, which goes with it")
    keep_newest([live, older], len(live.read_bytes()) + 10, remnant)
    assert not older.exists()
    assert remnant.read_bytes() == begun
