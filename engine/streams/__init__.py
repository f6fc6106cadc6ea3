"""Streams between the API side and a node's agent: attach, exec, logs, stats, archives, builds.

Each stream is a connection of its own to the agent (a unix socket on the agent's machine,
TCP with a node-bound token from elsewhere) carrying the frames of `wire`. Bulk bytes never
cross Redis: relaying them a message per chunk through the channel layer lost output and
took minutes for a megabyte. On the agent's own machine, a hijacked client's connection is
handed to the agent, which writes the output to it itself (`handoff`).
"""
