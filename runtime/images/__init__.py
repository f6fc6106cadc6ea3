"""Images: references, the local image store, commit and the built-in base images."""
