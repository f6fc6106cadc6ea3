"""The stream relay: attach, exec, logs, stats and archives between the API and a node's agent.

Messages travel over the channel layer. The API side opens a stream on the node's agent channel
(`agent.<node>`); the agent answers on the reply channel with `stream.ready` (naming its input
channel), then `stream.data` frames, then `stream.end` or `stream.error`. The API side sends
`stream.input`, `stream.eof`, `stream.resize` and `stream.cancel` to the input channel.
"""


def agent_channel(node_name: str) -> str:
    return f"agent.{node_name}"
