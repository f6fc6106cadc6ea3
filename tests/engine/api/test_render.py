"""What `docker ps` prints for durations, and the API version gate."""

import pytest

from engine.api.base import check_version
from engine.api.render import human_duration
from engine.errors import BadRequest


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "Less than a second"),
        (1, "1 second"),
        (42, "42 seconds"),
        (61, "About a minute"),
        (300, "5 minutes"),
        (3600, "About an hour"),
        (7 * 3600, "7 hours"),
        (3 * 86400, "3 days"),
    ],
)
def test_durations_read_like_docker(seconds, text):
    assert human_duration(seconds) == text


def test_supported_versions_pass():
    check_version("1.41")
    check_version("1.47")
    check_version(None)


def test_too_new_a_client_is_told_the_maximum():
    with pytest.raises(BadRequest, match="Maximum supported API version is 1.47"):
        check_version("1.99")


def test_too_old_a_client_is_told_the_minimum():
    with pytest.raises(BadRequest, match="too old"):
        check_version("1.12")
