"""Tasks for networks that span nodes: each node takes the network's definition, its tunnel
to the other nodes and their containers' names (see engine.services.networks.spans)."""

from runtime.network import NetworkConfig
from runtime.paths import RuntimePaths

from .base import runtime_task
from .networks import network_manager


@runtime_task
def span_network(
    paths: RuntimePaths, config: dict, local: str, peers: list, remote_hosts: list
) -> dict:
    """Idempotent: run again whenever a container joins or leaves the network on any node."""
    net = NetworkConfig.from_dict(config)
    return network_manager(paths).span_network(net, local, peers, remote_hosts).to_dict()
