#!/usr/bin/env python3
"""Large container output and input through the docker CLI: attach, logs, exec, stdin.

    python -m bench.streams [--runs 5] [--mib 100] [--tail-mib N] [--timeout 120] [--peer]

For each daemon, the wall time of the docker command until it exits, with its whole output
read here in 1 MiB pieces, counted and hashed:

- attached output: `docker run --rm busybox sh -c GEN` (GEN writes --mib MiB to stdout);
- logs: `docker logs` of a container that ran GEN to completion beforehand;
- logs --tail 10: of a container that wrote --tail-mib MiB (1 GiB by default) beforehand;
- exec: `docker exec <running container> sh -c GEN` (the generator itself, not a file);
- stdin round trip: `docker run -i --rm busybox cat`, --mib MiB piped in and back out.

GEN is `yes` of a 1023-byte line of `a` cut to the size, so output comes in 1 KiB lines, the
way logs are kept, and `--tail 10` has ten whole lines to give. Every output is checked against
the byte count and sha256 it must have: a short or wrong output is LOST, never a time; a
command still running after --timeout seconds is killed and reported as TIMEOUT; an operation
that failed once is not run again on that daemon.

Without DOCKER_HOST a private Dockyard platform is started in a temporary root. PEER_DOCKER_HOST
names a real Docker daemon to compare with; without it, `--peer` starts a private one
(`bench.docker_peer`, busybox copied from Dockyard). The daemons take turns operation by
operation, round after round, so a drift of the machine's speed hits both alike; the first
--warmup rounds are not counted. Targets: every ratio Dockyard/Docker <= 1.0, and attached
output >= 100 MiB/s.
"""

import argparse
import contextlib
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.daemons import compared_daemons  # noqa: E402
from bench.stats import median, paired_ratio, summary  # noqa: E402
from bench.stream_check import LINE, MIB, Expected, Outcome, generator, stream  # noqa: E402

TAIL_LINES = 10
ATTACHED, LOGS, TAIL, EXEC, STDIN = (
    "attached output",
    "logs",
    f"logs --tail {TAIL_LINES}",
    "exec",
    "stdin round trip",
)
OPERATIONS = (ATTACHED, LOGS, TAIL, EXEC, STDIN)
TARGET_MIB_S = 100
SLEEPER = ("busybox", "sleep", "86400")


# Compared by identity: a daemon is a key of the containers prepared on it.
@dataclass(eq=False)
class Daemon:
    name: str
    host: str
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    samples: dict[str, list[float]] = field(default_factory=dict)
    failed: dict[str, Outcome] = field(default_factory=dict)
    made: list[str] = field(default_factory=list)
    serial: int = 0
    last_run: str = ""

    def docker(self, *args: str) -> list[str]:
        return ["docker", "-H", self.host, *args]

    def call(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            self.docker(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:2])}: {done.stderr.strip()}")
        return done.stdout.strip()

    def name_for(self, what: str) -> str:
        """A name of this bench's; prepared containers are kept until the end, run ones go."""
        self.serial += 1
        name = f"dyst-{self.tag}-{what}-{self.serial}"
        if what in ("run", "cat"):
            self.last_run = name
        else:
            self.made.append(name)
        return name

    def written(self, what: str, nbytes: int, timeout: float) -> str:
        """A container that ran the generator to completion; its name."""
        name = self.name_for(what)
        self.call("run", "-d", "--name", name, "busybox", "sh", "-c", generator(nbytes))
        status = self.call("wait", name, timeout=timeout)
        if status != "0":
            raise RuntimeError(f"the {what} container exited {status}")
        return name

    def remove(self, names: list[str]) -> None:
        if names:
            # A daemon too slow to remove them in time still lets the bench report and stop.
            with contextlib.suppress(subprocess.TimeoutExpired):
                rm = self.docker("rm", "-f", *names)
                subprocess.run(rm, capture_output=True, check=False, timeout=120)


@dataclass
class Operation:
    argv: Callable[[Daemon], list[str]]
    expected: Expected
    feed: int = 0
    # A container the command runs, removed after each run (`--rm` does not when it is killed).
    names_run: bool = False


def prepare(daemon: Daemon, args: argparse.Namespace) -> dict[str, str]:
    """The containers the logs and exec operations read; an operation whose one fails is
    marked failed on this daemon."""
    ready: dict[str, str] = {}
    wanted = (
        (LOGS, lambda: daemon.written("logs", args.mib * MIB, args.timeout)),
        (
            TAIL,
            lambda: daemon.written(
                "tail", args.tail_mib * MIB, args.timeout * max(1, args.tail_mib / args.mib)
            ),
        ),
        (EXEC, lambda: daemon.call("run", "-d", "--name", daemon.name_for("exec"), *SLEEPER)),
    )
    for operation, make in wanted:
        start = time.perf_counter()
        try:
            make()
            ready[operation] = daemon.made[-1]
        except subprocess.TimeoutExpired as exc:
            daemon.failed[operation] = Outcome("TIMEOUT", detail=f"preparing: {exc}")
        except RuntimeError as exc:
            daemon.failed[operation] = Outcome("ERROR", detail=f"preparing: {exc}")
        print(
            f"{daemon.name}: prepared {operation} in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
    return ready


def operations(args: argparse.Namespace, ready: dict[Daemon, dict[str, str]]) -> dict:
    size = args.mib * MIB
    whole = Expected.of(size)
    tail = Expected(len(LINE) * TAIL_LINES, hashlib.sha256(LINE * TAIL_LINES).hexdigest())
    gen = generator(size)
    return {
        ATTACHED: Operation(
            lambda d: d.docker(
                "run", "--rm", "--name", d.name_for("run"), "busybox", "sh", "-c", gen
            ),
            whole,
            names_run=True,
        ),
        LOGS: Operation(lambda d: d.docker("logs", ready[d][LOGS]), whole),
        TAIL: Operation(
            lambda d: d.docker("logs", "--tail", str(TAIL_LINES), ready[d][TAIL]), tail
        ),
        EXEC: Operation(lambda d: d.docker("exec", ready[d][EXEC], "sh", "-c", gen), whole),
        STDIN: Operation(
            lambda d: d.docker("run", "-i", "--rm", "--name", d.name_for("cat"), "busybox", "cat"),
            whole,
            feed=size,
            names_run=True,
        ),
    }


def measure_all(daemons: list[Daemon], args: argparse.Namespace) -> None:
    ready = {}
    for daemon in daemons:
        ready[daemon] = prepare(daemon, args)
    ops = operations(args, ready)
    for round_no in range(args.warmup + args.runs):
        for name in OPERATIONS:
            op = ops[name]
            for daemon in daemons:
                if name in daemon.failed:
                    continue
                outcome = stream(op.argv(daemon), op.expected, args.timeout, op.feed)
                if op.names_run and outcome.status != "ok":
                    daemon.remove([daemon.last_run])
                if outcome.status != "ok":
                    daemon.failed[name] = outcome
                elif round_no >= args.warmup:
                    daemon.samples.setdefault(name, []).append(outcome.seconds)
                shown = (
                    f"{outcome.seconds * 1000:.0f} ms" if outcome.status == "ok" else outcome.status
                )
                print(f"round {round_no}: {daemon.name} {name}: {shown}", file=sys.stderr)


def cell(daemon: Daemon | None, name: str) -> str:
    if daemon is None:
        return "-"
    if name in daemon.failed:
        return daemon.failed[name].status
    return f"{median(daemon.samples[name]) * 1000:.0f} ms"


def rate(daemon: Daemon | None, name: str, nbytes: int) -> str:
    if daemon is None or name in daemon.failed or name == TAIL:
        return "-"
    return f"{nbytes / MIB / median(daemon.samples[name]):.0f}"


def report(dockyard: Daemon, docker: Daemon | None, args: argparse.Namespace) -> None:
    for daemon in filter(None, (dockyard, docker)):
        for name in OPERATIONS:
            if name not in daemon.failed:
                print(summary(f"{daemon.name}: {name}", daemon.samples[name]))
    nbytes = args.mib * MIB
    print()
    print(
        f"{f'operation ({args.mib} MiB; tail of {args.tail_mib} MiB)':<38}"
        f"{'dockyard':>12}{'docker':>12}{'ratio':>8}{'dockyard MiB/s':>16}{'docker MiB/s':>14}"
    )
    missed = []
    for name in OPERATIONS:
        ratio = "-"
        if docker and name not in dockyard.failed and name not in docker.failed:
            value = median(dockyard.samples[name]) / median(docker.samples[name])
            ratio = f"{value:.2f}"
            if value > 1.0:
                missed.append(f"{name} ratio {ratio}")
        elif name in dockyard.failed:
            missed.append(f"{name} {dockyard.failed[name].status}")
        print(
            f"{name:<38}{cell(dockyard, name):>12}{cell(docker, name):>12}{ratio:>8}"
            f"{rate(dockyard, name, nbytes):>16}{rate(docker, name, nbytes):>14}"
        )
    print()
    for daemon in filter(None, (dockyard, docker)):
        for name, outcome in daemon.failed.items():
            print(f"{daemon.name} {name}: {outcome.status}: {outcome.detail}")
    if docker:
        for name in OPERATIONS:
            if name not in dockyard.failed and name not in docker.failed:
                paired = paired_ratio(dockyard.samples[name], docker.samples[name])
                print(f"{name}: Dockyard takes {paired}")
    else:
        print("docker: PEER_DOCKER_HOST not set and no --peer; no Docker daemon to compare with")
    if ATTACHED not in dockyard.failed:
        attached = nbytes / MIB / median(dockyard.samples[ATTACHED])
        if attached < TARGET_MIB_S:
            missed.append(f"attached output {attached:.0f} MiB/s")
    verdict = "met" if not missed else "missed: " + "; ".join(missed)
    print(f"targets (every ratio <= 1.0, attached output >= {TARGET_MIB_S} MiB/s): {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds first")
    parser.add_argument("--mib", type=int, default=100, help="MiB each stream moves")
    parser.add_argument(
        "--tail-mib", type=int, help="MiB the --tail container wrote (default 1 GiB x mib/100)"
    )
    parser.add_argument("--timeout", type=float, default=120, help="seconds per operation")
    parser.add_argument(
        "--peer", action="store_true", help="start a private dockerd when PEER_DOCKER_HOST is unset"
    )
    args = parser.parse_args()
    if args.tail_mib is None:
        args.tail_mib = max(1, args.mib * 1024 // 100)
    if not shutil.which("crun") or os.geteuid() != 0:
        print("needs root and crun", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        host, peer = stack.enter_context(compared_daemons("st", args.peer))
        daemons = [Daemon("dockyard", host)]
        if peer:
            daemons.append(Daemon("docker", peer))
        for daemon in daemons:
            stack.callback(lambda d=daemon: d.remove(d.made))
        measure_all(daemons, args)
    report(daemons[0], daemons[1] if peer else None, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
