import pytest

from runtime.containers.logconfig import log_options, parse_size
from runtime.errors import InvalidInput


def options(kind: str = "", **config: str) -> dict:
    given = {key.replace("_", "-"): value for key, value in config.items()}
    return log_options({"Type": kind, "Config": given})


@pytest.mark.parametrize(
    "text,size",
    [
        ("100", 100),
        ("10k", 10_000),
        ("10K", 10_000),
        ("10m", 10_000_000),
        ("10MB", 10_000_000),
        ("1.5g", 1_500_000_000),
        ("2 GiB", 2_000_000_000),
        ("512b", 512),
    ],
)
def test_sizes_read_as_docker_reads_them(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "invalid size: ''"),
        ("m", "invalid size: 'm'"),
        ("-1m", "invalid size: '-1m'"),
        ("10x", "invalid suffix: 'x'"),
        ("10mm", "invalid suffix: 'mm'"),
    ],
)
def test_bad_sizes_are_refused_with_dockers_words(text, message):
    with pytest.raises(InvalidInput, match=f"^{message}$"):
        parse_size(text)


def test_by_default_the_log_is_kept_whole():
    unlimited = {"log_driver": "k8s-file", "log_max_size": 0, "log_max_files": 1}
    assert log_options(None) == unlimited
    assert log_options({"Type": "", "Config": {}}) == unlimited
    assert options("json-file") == unlimited
    assert options("k8s-file") == unlimited


def test_max_size_and_max_file_set_rotation():
    assert options(max_size="10m", max_file="3") == {
        "log_driver": "k8s-file",
        "log_max_size": 10_000_000,
        "log_max_files": 3,
    }
    assert options("local")["log_max_size"] == 20 * 1024 * 1024
    assert options("local")["log_max_files"] == 5
    assert options("local", max_size="1m")["log_max_files"] == 5


def test_max_file_alone_changes_nothing_as_in_docker():
    assert options(max_file="3")["log_max_size"] == 0


def test_none_keeps_no_log():
    assert options("none")["log_driver"] == "none"


@pytest.mark.parametrize(
    "log_config,message",
    [
        ({"Type": "syslog"}, "logger: no log driver named 'syslog' is registered"),
        ({"Config": {"max-size": "0"}}, "max-size must be a positive number"),
        ({"Config": {"max-size": "1m", "max-file": "0"}}, "max-file cannot be less than 1"),
        ({"Config": {"max-file": "x"}}, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"Config": {"mode": "non-blocking"}}, "unknown log opt 'mode' for json-file log driver"),
        ({"Type": "local", "Config": {"tag": "x"}}, "unknown log opt 'tag' for local log driver"),
        (
            {"Config": {"max-size": "1m", "compress": "true"}},
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        (
            {"Type": "none", "Config": {"max-size": "1m"}},
            "the none log driver takes no log options",
        ),
    ],
)
def test_bad_options_are_refused(log_config, message):
    with pytest.raises(InvalidInput, match=message):
        log_options(log_config)
