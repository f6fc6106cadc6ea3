"""Content-addressed storage: blobs by sha256 digest."""
