"""Networks that span nodes: a VXLAN device per network per node, enslaved to its bridge."""

from runtime.overlay.model import VXLAN_OVERHEAD, VXLAN_PORT, Span
from runtime.overlay.vxlan import ensure_span, remove_span

__all__ = ["VXLAN_OVERHEAD", "VXLAN_PORT", "Span", "ensure_span", "remove_span"]
