"""Summaries every bench prints the same way."""

import random
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


def paired_ratio(ours: list[float], theirs: list[float]) -> str:
    """The median of per-round ratios, with a bootstrap 90 % interval.

    When two systems take turns, each round's ratio cancels the drift of the machine's speed
    that moves both of them; the interval says how far the median could be from the truth.
    """
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    picks = random.Random(0)
    resamples = 2000
    medians = sorted(
        statistics.median(picks.choices(ratios, k=len(ratios))) for _ in range(resamples)
    )
    low, high = medians[resamples // 20], medians[resamples - 1 - resamples // 20]
    return f"{statistics.median(ratios):.2f}x per round (90 % interval {low:.2f}-{high:.2f})"
