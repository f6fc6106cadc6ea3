"""Summaries every bench prints the same way."""

import statistics
import subprocess
import time
from collections.abc import Callable


def measure(fn: Callable[[], None], runs: int, warmup: int = 2) -> list[float]:
    """Seconds per call of `fn`, after `warmup` unmeasured calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def command(argv: list[str], env: dict | None = None) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(argv, check=True, capture_output=True, env=env)

    return run


def summary(label: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p10 = ms[max(0, len(ms) // 10)]
    p90 = ms[min(len(ms) - 1, (len(ms) * 9) // 10)]
    return (
        f"{label:<44} median {statistics.median(ms):8.1f} ms   "
        f"p10 {p10:7.1f}   p90 {p90:7.1f}   n={len(ms)}"
    )


def median(samples: list[float]) -> float:
    return statistics.median(samples)
