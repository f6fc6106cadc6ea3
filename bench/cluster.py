#!/usr/bin/env python3
"""A cluster on one machine: 60 containers spread over three nodes against the same 60 on one,
and what a joined node's own processes hold in memory.

    python -m bench.cluster [--containers 60] [--rounds 3] [--parallel 6]

The control plane (PostgreSQL, Redis, web, gateway) runs as `DOCKYARD_CLUSTER=1 make up` runs
it; three nodes join it from network namespaces of their own (dockyard/simulated_nodes.py).
The control plane's own node is drained so that every container lands on a joined node.
Each round starts the containers with `docker run -d` from `--parallel` clients at once and
removes them again; the medians of the rounds are printed. The RSS of a joined node's
processes, its supervisor (`make node`) and the one process holding its Celery worker and
agent (dockyard/node_process.py), is read from /proc after that work, and set against
dockerd plus containerd's 142 MB measured on this host.
"""

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockyard.simulated_nodes import (  # noqa: E402
    Cluster,
    SimulatedNode,
    descendants,
    simulated_cluster,
)

DOCKERD_CONTAINERD_MB = 142


def start_all(cluster: Cluster, count: int, parallel: int, label: str | None) -> float:
    """Seconds until `count` containers run; then they are removed."""
    names = [f"bench{i}" for i in range(count)]
    extra = ["--label", label] if label else []

    def run(name: str) -> None:
        done = cluster.control.docker(
            "run", "-d", "--name", name, *extra, "busybox", "sleep", "600"
        )
        if done.returncode != 0:
            raise RuntimeError(f"docker run {name}: {done.stderr}")

    began = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(run, names))
    elapsed = time.monotonic() - began
    for chunk in range(0, count, 20):
        cluster.control.docker("rm", "-f", *names[chunk : chunk + 20], timeout=300)
    return elapsed


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def node_rss(node: SimulatedNode) -> dict[str, float]:
    """MB of resident memory of the node's supervisor and of the process it runs."""
    assert node.process is not None
    found = {"supervisor": _rss_kb(node.process.pid)}
    for pid in descendants(node.process.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "dockyard.node_process" in cmdline:
            found["node"] = found.get("node", 0) + _rss_kb(pid)
    return {name: kb / 1024 for name, kb in found.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=6)
    args = parser.parse_args(argv)

    with simulated_cluster(3, prefix="dqbn") as cluster:
        token = cluster.join_token
        for node in cluster.nodes:
            node.start(cluster.url, token())
        for node in cluster.nodes:
            node.wait_running()
        control_node = cluster.control.env["DOCKYARD_NODE"]
        cluster.control.docker("node", "update", "--availability", "drain", control_node)
        one = f"dockyard.node={cluster.nodes[0].name}"
        # A first pull of busybox onto each node is not what is measured.
        for node in cluster.nodes:
            cluster.control.docker(
                "run", "--rm", "--label", f"dockyard.node={node.name}", "busybox", "true"
            )
        spread, single = [], []
        for _ in range(args.rounds):
            spread.append(start_all(cluster, args.containers, args.parallel, None))
            single.append(start_all(cluster, args.containers, args.parallel, one))
        rss = []
        for _ in range(5):
            rss.append(node_rss(cluster.nodes[0]))
            time.sleep(0.2)

    n = args.containers
    print(f"{n} containers, docker run -d from {args.parallel} clients, {args.rounds} rounds:")
    for label, rounds in (("spread over 3 nodes", spread), ("all on one node", single)):
        each = ", ".join(f"{s:.1f}" for s in rounds)
        print(f"  {label:20} median {statistics.median(rounds):.1f}s  (rounds: {each})")
    print("Resident memory of a joined node's processes (median of 5 reads):")
    total = 0.0
    for name, shown in (("supervisor", "supervisor"), ("node", "worker + agent")):
        mb = statistics.median(r.get(name, 0.0) for r in rss)
        total += mb
        print(f"  {shown:14} {mb:6.1f} MB")
    print(f"  {'total':14} {total:6.1f} MB  (dockerd + containerd: {DOCKERD_CONTAINERD_MB} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
