"""Writing a node's small state files so that a crash leaves the old or the new one whole."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any, durable: bool = True) -> None:
    """Write to a temp file beside `path`, fsync it unless not `durable`, rename over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            # dumps, not dump: only the one-shot encoder runs in C, and this is on the path of
            # every container start.
            f.write(json.dumps(data, sort_keys=True))
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
