"""The image builder: Dockerfile parsing, build context, step cache and execution."""
