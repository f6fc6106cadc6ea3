"""Containers as the dashboard shows them: one plain dict per row, for pages and websockets."""

from django.db.models import QuerySet

from engine.api.render import status_text
from engine.models import Container, Image
from engine.services.images import normalize
from engine.services.nodes import shown_state
from registry_app.models import Tag


def ports_text(host_config: dict) -> str:
    parts = []
    for port, bindings in sorted((host_config.get("PortBindings") or {}).items()):
        for b in bindings or [{}]:
            host = b.get("HostPort") or ""
            parts.append(f"{host}->{port}" if host else port)
    return ", ".join(parts)


def container_row(c: Container, stale: set[str] = frozenset()) -> dict:
    return {
        "id": c.id,
        "short_id": c.id[:12],
        "name": c.name,
        "image": c.image_ref,
        "state": shown_state(c),
        "status": status_text(c),
        "ports": ports_text(c.host_config),
        "owner": c.owner.get_username() if c.owner_id else "",
        "node": c.node.name,
        "running": c.status == Container.Status.RUNNING,
        # The health badge: "", "starting", "healthy" or "unhealthy".
        "health": (c.health or {}).get("Status", "")
        if c.status == Container.Status.RUNNING
        else "",
        "stale": c.id in stale,
    }


def _repository_and_tag(ref: str) -> tuple[str, str]:
    """`host/ns/name:tag` as the platform registry's repository name and tag."""
    full = normalize(ref)
    name, _, tag = full.rpartition(":")
    if "/" in name and ("." in name.split("/")[0] or ":" in name.split("/")[0]):
        name = name.split("/", 1)[1]
    name = name.removeprefix("docker.io/")
    return (name if "/" in name else f"library/{name}"), tag


def stale_containers(containers: list[Container]) -> set[str]:
    """Containers whose image tag now points to another digest in the platform's registry."""
    if not containers:
        return set()
    wanted = {c.id: _repository_and_tag(c.image_ref) for c in containers}
    tags = Tag.objects.filter(
        repository__name__in={repo for repo, _ in wanted.values()},
        name__in={tag for _, tag in wanted.values()},
    ).values_list("repository__name", "name", "manifest__digest")
    latest = {(repo, tag): digest for repo, tag, digest in tags}
    if not latest:
        return set()
    digests = dict(
        Image.objects.filter(image_id__in={c.image_id for c in containers}).values_list(
            "image_id", "manifest_digest"
        )
    )
    stale = set()
    for c in containers:
        pushed = latest.get(wanted[c.id])
        running = digests.get(c.image_id)
        if pushed and running and pushed != running:
            stale.add(c.id)
    return stale


def container_rows(containers: QuerySet[Container]) -> list[dict]:
    found = list(containers.select_related("node"))
    stale = stale_containers(found)
    return [container_row(c, stale) for c in found]
