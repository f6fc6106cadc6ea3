"""Registry client: pull and push images over the OCI Distribution API."""
