"""The web process: daphne, handing request bodies to the app in large pieces.

    python -m dockyard.web [daphne's arguments]

daphne gives the app a request body 8 KiB at a time: a pushed 100 MB layer would be
12,800 messages through the app's queue, each copied into Django's spool file.
"""

import functools

from daphne.cli import CommandLineInterface
from daphne.server import Server

REQUEST_BUFFER = 1 << 20


class WebCommandLine(CommandLineInterface):
    server_class = functools.partial(Server, request_buffer_size=REQUEST_BUFFER)


if __name__ == "__main__":
    WebCommandLine.entrypoint()
