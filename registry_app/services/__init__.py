"""Registry use cases, one module per subject: repositories, blobs, uploads, manifests,
tokens, collection.

Views translate HTTP to these calls; the engine and the dashboard call them directly.
"""
