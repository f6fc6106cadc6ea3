"""Docker's `HostConfig.LogConfig` as the runtime keeps a container's log.

Every driver that keeps a log Docker can read back (json-file, local, k8s-file) is kept the
same way here: conmon's k8s-file, rotated by size (see logrotate.py). The rules and messages
follow Docker's json-file and local drivers.
"""

import re
from typing import Any

from runtime.errors import InvalidInput

# Docker's `local` driver keeps 5 files of 20 MiB unless told otherwise.
LOCAL_MAX_SIZE = 20 * 1024 * 1024
LOCAL_MAX_FILES = 5

# Docker's units.FromHumanSize: decimal multiples, whatever the case or an "i" ("1KiB" is 1000).
_MULTIPLIERS = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+) ?([a-zA-Z]*)")
_INT = re.compile(r"[+-]?\d+")
_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}

# Options that only add attributes to each entry (shown by `docker logs --details`, which is
# not served); accepted so that configurations written for Docker keep working.
_ATTRIBUTE_OPTIONS = {"labels", "labels-regex", "env", "env-regex", "tag"}
_OPTIONS = {
    "json-file": {"max-size", "max-file", "compress"} | _ATTRIBUTE_OPTIONS,
    "k8s-file": {"max-size", "max-file", "compress"} | _ATTRIBUTE_OPTIONS,
    "local": {"max-size", "max-file", "compress"},
}


def parse_size(text: str) -> int:
    """Docker's size syntax: "10m", "1.5GB", "512k", "100" (bytes); k, m, g are 1000-based."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(f"invalid size: '{text}'")
    number, suffix = float(match.group(1)), match.group(2).lower()
    if suffix in ("", "b"):
        return int(number)
    unit, rest = suffix[0], suffix[1:]
    if unit not in _MULTIPLIERS or rest not in ("", "b", "ib"):
        raise InvalidInput(f"invalid suffix: '{suffix}'")
    return int(number * _MULTIPLIERS[unit])


def _max_files(text: str) -> int:
    if not _INT.fullmatch(text):
        raise InvalidInput(f'strconv.Atoi: parsing "{text}": invalid syntax')
    count = int(text)
    if count < 1:
        raise InvalidInput("max-file cannot be less than 1")
    return count


def log_options(log_config: dict[str, Any] | None) -> dict[str, Any]:
    """ContainerSpec's log_driver, log_max_size and log_max_files for a LogConfig.

    Raises InvalidInput, with Docker's message where Docker has one.
    """
    log_config = log_config or {}
    kind = log_config.get("Type") or "json-file"
    options = {k: str(v) for k, v in (log_config.get("Config") or {}).items()}
    if kind == "none":
        if options:
            raise InvalidInput("the none log driver takes no log options")
        return {"log_driver": "none", "log_max_size": 0, "log_max_files": 1}
    if kind not in _OPTIONS:
        raise InvalidInput(f"logger: no log driver named '{kind}' is registered")
    for key in options:
        if key not in _OPTIONS[kind]:
            raise InvalidInput(f"unknown log opt '{key}' for {kind} log driver")
    local = kind == "local"
    max_size = LOCAL_MAX_SIZE if local else 0
    if "max-size" in options:
        max_size = parse_size(options["max-size"])
        if max_size <= 0:
            raise InvalidInput("max-size must be a positive number")
    max_files = LOCAL_MAX_FILES if local else 1
    if "max-file" in options:
        max_files = _max_files(options["max-file"])
    if "compress" in options:
        text = options["compress"]
        compress = _BOOLS.get(text.lower())
        if compress is None:
            raise InvalidInput(f'strconv.ParseBool: parsing "{text}": invalid syntax')
        if compress and not local and (max_files < 2 or max_size <= 0):
            raise InvalidInput(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
            )
        # Rotated files stay uncompressed: compression changes only their size on disk, never
        # what is kept or what `docker logs` shows.
    # As in Docker, max-file without max-size is accepted and changes nothing: a log that is
    # never rotated is one file.
    return {"log_driver": "k8s-file", "log_max_size": max_size, "log_max_files": max_files}
