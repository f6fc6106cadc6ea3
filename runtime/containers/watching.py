"""inotify watches that cost the caller nothing when they end."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inotify_simple import INotify


@contextmanager
def watching(*watches: tuple[Path, int]) -> Iterator[INotify]:
    """An inotify instance watching each (path, mask).

    Closing an inotify instance waits for the kernel's RCU grace period (about 10 ms here), on
    the path of every `docker run`; nothing depends on the close, so it happens in a thread.
    """
    inotify = INotify()
    try:
        for path, mask in watches:
            inotify.add_watch(path, mask)
        yield inotify
    finally:
        threading.Thread(target=inotify.close, daemon=True).start()
