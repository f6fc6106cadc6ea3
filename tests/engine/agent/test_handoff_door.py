"""The agent's hand-off socket: root's alone, and a connection handed with a key no stream
holds is closed rather than served."""

import array
import asyncio
import json
import socket
import stat

from engine.agent.clients import HandoffDoor


def _hand(door_path, key: str, conn: socket.socket) -> None:
    rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [conn.fileno()]))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.sendmsg([json.dumps({"key": key, "tty": False}).encode()], [rights], 0, door_path)


def test_a_connection_handed_with_a_key_no_stream_holds_is_closed(tmp_path):
    path = tmp_path / "agent-fd.sock"
    asked = []

    async def body() -> bytes:
        door = HandoffDoor(path, lambda key, client: asked.append(key) or key == "the-stream")
        door.open()
        try:
            mode = path.stat().st_mode
            assert stat.S_IMODE(mode) == 0o600 and path.stat().st_uid == 0
            ours, theirs = socket.socketpair()
            with ours, theirs:
                _hand(str(path), "guessed", ours)
                ours.close()
                theirs.settimeout(5)
                return await asyncio.to_thread(theirs.recv, 1)
        finally:
            door.close()

    # The only other holder of the handed socket is the door: it closed it, so EOF.
    assert asyncio.run(body()) == b""
    assert asked == ["guessed"]
