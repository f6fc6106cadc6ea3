"""Docker's healthcheck rules: merging a request with the image, and what a probe changes."""

import pytest

from engine.errors import BadRequest
from engine.services.health import (
    HEALTHY,
    STARTING,
    UNHEALTHY,
    Check,
    check_of,
    check_on_failure_label,
    next_health,
)
from engine.specs import merge_healthcheck

STARTED = "2026-01-01T00:00:00.000000000Z"
CHECK = Check(["CMD", "true"], 1.0, 1.0, 10.0, 5.0, 2)


def _probe(second: int, code: int) -> dict:
    at = f"2026-01-01T00:00:{second:02d}.5Z"
    return {"Start": at, "End": at, "ExitCode": code, "Output": ""}


def test_the_request_tunes_the_images_check():
    image = {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 30_000_000_000}
    merged = merge_healthcheck({"Test": None, "Retries": 5}, image)
    assert merged == {"Test": image["Test"], "Interval": 30_000_000_000, "Retries": 5}
    assert merge_healthcheck({"Test": ["NONE"]}, image) == {"Test": ["NONE"]}
    assert check_of({"Healthcheck": {"Test": ["NONE"]}}) is None
    assert merge_healthcheck(None, None) is None


def test_bad_checks_are_refused():
    with pytest.raises(BadRequest):
        merge_healthcheck({"Test": ["SHELL", "x"]}, None)
    with pytest.raises(BadRequest):
        merge_healthcheck({"Test": ["CMD", "x"], "Interval": 10}, None)
    with pytest.raises(BadRequest):
        check_on_failure_label({"dockyard.health.on-failure": "explode"})
    check_on_failure_label({"dockyard.health.on-failure": "kill"})


def test_failures_in_the_start_period_do_not_count():
    health = {"Status": STARTING, "FailingStreak": 0, "Log": []}
    health = next_health(health, _probe(3, 1), CHECK, STARTED)
    assert (health["Status"], health["FailingStreak"]) == (STARTING, 0)
    health = next_health(health, _probe(11, 1), CHECK, STARTED)
    assert (health["Status"], health["FailingStreak"]) == (STARTING, 1)
    health = next_health(health, _probe(12, 1), CHECK, STARTED)
    assert (health["Status"], health["FailingStreak"]) == (UNHEALTHY, 2)


def test_a_pass_heals_and_the_log_keeps_five():
    health = {"Status": UNHEALTHY, "FailingStreak": 4, "Log": []}
    for second in range(20, 27):
        health = next_health(health, _probe(second, 1), CHECK, STARTED)
    health = next_health(health, _probe(30, 0), CHECK, STARTED)
    assert (health["Status"], health["FailingStreak"]) == (HEALTHY, 0)
    assert len(health["Log"]) == 5 and health["Log"][-1]["ExitCode"] == 0
