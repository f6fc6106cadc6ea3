import json

from runtime.containers.state import ContainerState, Status, load_state, now_rfc3339, save_state


def test_predicates_follow_the_state_machine():
    created = ContainerState(id="c", status=Status.created)
    running = ContainerState(id="c", status=Status.running)
    paused = ContainerState(id="c", status=Status.paused)
    exited = ContainerState(id="c", status=Status.exited)
    assert created.can_start() and exited.can_start() and not running.can_start()
    assert running.can_stop() and paused.can_stop() and not exited.can_stop()
    assert running.can_pause() and not paused.can_pause()
    assert paused.can_unpause() and not running.can_unpause()
    assert exited.can_remove(False) and not running.can_remove(False)
    assert running.can_remove(True) and paused.can_remove(True)


def test_save_is_atomic_and_round_trips(runtime_paths):
    runtime_paths.container("c1").mkdir(parents=True)
    state = ContainerState(id="c1", status=Status.running, pid=42, started_at=now_rfc3339())
    save_state(runtime_paths, state)
    assert load_state(runtime_paths, "c1") == state
    files = [p.name for p in runtime_paths.container("c1").iterdir()]
    assert files == ["state.json"]
    assert json.loads((runtime_paths.container("c1") / "state.json").read_text())["status"] == (
        "running"
    )


def test_time_has_nanoseconds():
    assert now_rfc3339(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
