"""Docker-shaped stats JSON lines turned into the few numbers the dashboard draws."""

import json


def sample(s: dict) -> dict:
    """CPU percent as `docker stats` computes it, memory without page cache, I/O totals."""
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}
    ).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or 1
    percent = cpu_delta / system_delta * cpus * 100 if system_delta > 0 and cpu_delta > 0 else 0.0
    memory = s.get("memory_stats") or {}
    stat = memory.get("stats") or {}
    cache = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    used = max(0, memory.get("usage", 0) - cache)
    networks = (s.get("networks") or {}).values()
    blkio = (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    return {
        "time": s.get("read", ""),
        "cpu": round(percent, 2),
        "mem": used,
        "mem_limit": memory.get("limit", 0),
        "rx": sum(n.get("rx_bytes", 0) for n in networks),
        "tx": sum(n.get("tx_bytes", 0) for n in networks),
        "blk_read": sum(e.get("value", 0) for e in blkio if e.get("op", "").lower() == "read"),
        "blk_write": sum(e.get("value", 0) for e in blkio if e.get("op", "").lower() == "write"),
        "pids": (s.get("pids_stats") or {}).get("current", 0),
    }


class StatsReader:
    """Splits a stats stream into JSON lines, whatever chunks it arrives in."""

    def __init__(self):
        self.buffer = b""

    def feed(self, data: bytes) -> list[dict]:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(sample(json.loads(line)))
                except ValueError:
                    continue
        return out
