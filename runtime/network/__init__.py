"""Container networking: bridges, veth endpoints, IPAM, published ports, /etc files."""

from runtime.network.etcfiles import write_etc_files
from runtime.network.hostsfiles import DEFAULT_NETWORK
from runtime.network.manager import NetworkManager
from runtime.network.model import Endpoint, NetworkConfig, PortBinding

__all__ = [
    "DEFAULT_NETWORK",
    "Endpoint",
    "NetworkConfig",
    "NetworkManager",
    "PortBinding",
    "write_etc_files",
]
