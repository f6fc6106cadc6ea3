"""The node agent: relays streams, records exits and OOM kills, applies restart policies,
and reconciles the ORM with what really runs on its node."""
