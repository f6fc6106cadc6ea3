"""Runtime stats in the JSON shape of Docker's /containers/{id}/stats."""

from dataclasses import asdict
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def _cpu(s: dict | None) -> dict:
    if s is None:
        return {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": 0}
    return {
        "cpu_usage": {
            "total_usage": s["cpu_total_ns"],
            "percpu_usage": s["cpu_percpu_ns"] or None,
            "usage_in_kernelmode": s["cpu_system_ns"],
            "usage_in_usermode": s["cpu_user_ns"],
        },
        "system_cpu_usage": s["system_cpu_usage"],
        "online_cpus": s["online_cpus"],
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def stats_json(args: dict, current: Any, previous: Any) -> dict:
    cur = asdict(current)
    pre = asdict(previous) if previous is not None else None
    blkio = [
        {"major": 0, "minor": 0, "op": "read", "value": cur["blkio_read_bytes"]},
        {"major": 0, "minor": 0, "op": "write", "value": cur["blkio_write_bytes"]},
    ]
    return {
        "read": cur["read"],
        "preread": pre["read"] if pre else ZERO_TIME,
        "id": args["cid"],
        "name": f"/{args.get('name', '')}",
        "pids_stats": {"current": cur["pids_current"], "limit": cur["pids_limit"]},
        "cpu_stats": _cpu(cur),
        "precpu_stats": _cpu(pre),
        "memory_stats": {
            "usage": cur["memory_usage"],
            "max_usage": cur["memory_max_usage"],
            "limit": cur["memory_limit"],
            "stats": cur["memory_stat"],
        },
        "blkio_stats": {"io_service_bytes_recursive": blkio},
        "num_procs": 0,
    }
