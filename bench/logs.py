"""Reading container logs: decoding speed, and the cost of `--tail` and `--since` on 1 GiB.

    .venv/bin/python -m bench.logs

Logs are written here in conmon's k8s-file format (with a P record every 8 KiB, as conmon
writes them) into a temporary directory; no container runs, no root is needed. Decoding is
timed on 1 MiB blocks already in memory; reading on a file in the page cache.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.stats import measure, summary
from runtime.containers.logformat import Decoder
from runtime.containers.logs import read_log_chunks
from runtime.containers.spec import ContainerSpec
from runtime.containers.state import ContainerState, Status, save_state
from runtime.paths import RuntimePaths

BASE = 1_796_000_000
MiB = 1024 * 1024
CID = "b" * 64


def stamp(seconds: int, offset: str = "+00:00") -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode() + (
        b".123456789" + offset.encode()
    )


def records(size: int, line: bytes, streams: tuple[bytes, ...], offset: str = "+00:00") -> bytes:
    """`size` bytes of output as conmon logs it: reads of 8192 bytes, a P where a read ends
    inside a line; with two streams, lines alternate between them."""
    out = []
    head = stamp(BASE, offset)
    if len(streams) == 2:
        for i in range(size // (len(line) + 1)):
            out.append(b"%s %s F %s\n" % (head, streams[i % 2], line))
        return b"".join(out)
    text = (line + b"\n") * (size // (len(line) + 1))
    for start in range(0, len(text), 8192):
        parts = text[start : start + 8192].split(b"\n")
        out += [b"%s %s F %s\n" % (head, streams[0], p) for p in parts[:-1]]
        if parts[-1]:
            out.append(b"%s %s P %s\n" % (head, streams[0], parts[-1]))
    return b"".join(out)


def one_mib(log: bytes) -> bytes:
    return log[: log.rfind(b"\n", 0, MiB) + 1]


def decoding(runs: int) -> None:
    line60 = b"GET /api/v1/items?page=3 200 1532 bytes 0.004 s client=10.0.0.7"
    cases = {
        "60-byte lines, stdout": (records(2 * MiB, line60, (b"stdout",)), {}),
        "2-byte lines, stdout": (records(2 * MiB, b"y", (b"stdout",)), {}),
        "60-byte lines, stderr": (records(2 * MiB, line60, (b"stderr",)), {}),
        "60-byte lines, streams alternating": (
            records(2 * MiB, line60, (b"stdout", b"stderr")),
            {},
        ),
        "60-byte lines, timestamps (UTC)": (
            records(2 * MiB, line60, (b"stdout",)),
            {"timestamps": True},
        ),
        "60-byte lines, timestamps (+02:00)": (
            records(2 * MiB, line60, (b"stdout",), "+02:00"),
            {"timestamps": True},
        ),
    }
    print("decoding 1 MiB blocks (MB/s of log)")
    for label, (log, options) in cases.items():
        block = one_mib(log)
        fast = measure(lambda b=block, o=options: Decoder(**o).decode(b), runs)
        # What every block cost before: record by record.
        slow = measure(lambda b=block, o=options: Decoder(**o)._records(b), max(3, runs // 5))
        mbs = len(block) / min(fast) / 1e6
        per_record = len(block) / min(slow) / 1e6
        print(f"  {label:<40} {mbs:7.0f} MB/s   record by record {per_record:6.0f} MB/s")


def container(root: Path) -> tuple[RuntimePaths, Path]:
    paths = RuntimePaths(root=root / "root", run=root / "run").ensure()
    directory = paths.container(CID)
    directory.mkdir(parents=True)
    (directory / "spec.json").write_text(json.dumps(ContainerSpec(args=["true"]).to_dict()))
    save_state(paths, ContainerState(id=CID, status=Status.exited))
    return paths, directory / "container.log"


def gigabyte(log: Path) -> None:
    """1 GiB of 1 MiB blocks of 1000-byte lines; block k is logged at BASE + k seconds."""
    block = one_mib(records(MiB + 8192, b"%0999d" % 7, (b"stdout",)))
    with open(log, "wb") as f:
        for k in range(1024):
            f.write(block.replace(stamp(BASE), stamp(BASE + k)))


def reading(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths, log = container(Path(tmp))
        gigabyte(log)
        size = log.stat().st_size

        def everything() -> None:
            for _ in read_log_chunks(paths, CID):
                pass

        def tail() -> None:
            list(read_log_chunks(paths, CID, tail=10))

        def window() -> None:
            list(read_log_chunks(paths, CID, since=BASE + 700.5, until=BASE + 701.5))

        print(f"reading a {size / MiB:.0f} MiB log file from the page cache")
        whole = measure(everything, max(1, runs // 10), warmup=1)
        print(f"  all of it: {size / min(whole) / 1e6:.0f} MB/s")
        print("  " + summary("--tail 10", measure(tail, runs)))
        print("  " + summary("--since/--until around 1 MiB of it", measure(window, runs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    decoding(args.runs)
    reading(args.runs)


if __name__ == "__main__":
    main()
