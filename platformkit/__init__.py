"""Helpers several apps share, free of any app and of the project package.

Apps (accounts, engine, registry_app, webui) may import this package; it imports none of
them, nor `dockyard/`, so the layering in ARCHITECTURE.md holds (tests/test_layers.py).
"""
