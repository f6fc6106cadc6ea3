"""Dockyard's privileged host library: content store, layers, containers, networking.

Nothing here imports Django, Celery or Redis. Functions take plain arguments and
return plain dataclasses, so the library runs and is tested on its own.
"""
