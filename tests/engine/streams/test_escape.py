"""Detach keys are read as Docker reads them: a key per read, the sequence at the end."""

import pytest

from engine.streams.escape import DEFAULT_DETACH_KEYS, EscapeProxy, parse_detach_keys


def feed_all(proxy: EscapeProxy, *reads: bytes) -> tuple[bytes, bool]:
    passed, detached = b"", False
    for data in reads:
        out, detached = proxy.feed(data)
        passed += out
        if detached:
            break
    return passed, detached


def test_ctrl_p_ctrl_q_typed_detaches_and_is_not_passed_on():
    assert feed_all(EscapeProxy(b""), b"ls\r", b"\x10", b"\x11") == (b"ls\r", True)


def test_a_key_that_breaks_the_sequence_releases_what_was_held():
    assert feed_all(EscapeProxy(b""), b"\x10", b"x", b"\x11") == (b"\x10x\x11", False)


def test_ctrl_p_twice_then_ctrl_q_passes_the_keys_held():
    # The second ctrl-p does not match ctrl-q: both ctrl-p go on, and the sequence restarts.
    assert feed_all(EscapeProxy(b""), b"\x10", b"\x10", b"\x11") == (b"\x10\x10\x11", False)


def test_a_pasted_sequence_goes_to_the_container_as_with_docker():
    assert feed_all(EscapeProxy(b""), b"\x10\x11") == (b"\x10\x11", False)


def test_custom_keys_replace_the_default():
    keys = parse_detach_keys("ctrl-x,x")
    assert keys == b"\x18x"
    proxy = EscapeProxy(keys)
    assert feed_all(proxy, b"\x10", b"\x11") == (b"\x10\x11", False)
    assert feed_all(proxy, b"\x18", b"x") == (b"", True)


def test_a_single_key_detaches_alone():
    assert feed_all(EscapeProxy(b"a"), b"b", b"a") == (b"b", True)


@pytest.mark.parametrize(
    ("text", "keys"),
    [("ctrl-p,ctrl-q", DEFAULT_DETACH_KEYS), ("ctrl-@", b"\x00"), ("ctrl-_,DEL", b"\x1f\x7f")],
)
def test_docker_key_names(text, keys):
    assert parse_detach_keys(text) == keys


@pytest.mark.parametrize("text", ["ctrl-", "ctrl-1", "alt-a", "ab", ""])
def test_unknown_key_names_are_refused(text):
    with pytest.raises(ValueError, match="Unknown character"):
        parse_detach_keys(text)
