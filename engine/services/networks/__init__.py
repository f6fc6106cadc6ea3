"""Network use cases, and the network side of a container's create, start and remove."""

from .attachments import (
    Attach,
    NetworkChoice,
    choose_networks,
    do_connect,
    do_disconnect,
    mode_of,
    network_plan,
    record_network,
    save_attachments,
)
from .definitions import (
    BUILTIN_DRIVERS,
    DEFAULT,
    HOST,
    NONE,
    NetworkSpec,
    default_network,
    do_create_network,
    do_prune_networks,
    do_remove_network,
    resolve_network,
    sync_networks,
    visible_networks,
)
from .ports import port_requests
from .spans import announce, announce_network, join, spanning

__all__ = [
    "BUILTIN_DRIVERS",
    "DEFAULT",
    "HOST",
    "NONE",
    "Attach",
    "NetworkChoice",
    "NetworkSpec",
    "announce",
    "announce_network",
    "choose_networks",
    "default_network",
    "do_connect",
    "do_create_network",
    "do_disconnect",
    "do_prune_networks",
    "do_remove_network",
    "join",
    "mode_of",
    "network_plan",
    "port_requests",
    "record_network",
    "resolve_network",
    "save_attachments",
    "spanning",
    "sync_networks",
    "visible_networks",
]
