"""The ORM mirror of what runs on each node, plus who owns it.

The runtime on a node is the truth; these rows are written after the runtime changed and
reconciled by the node agent after a crash.
"""

from django.conf import settings
from django.db import models


class Node(models.Model):
    name = models.CharField(max_length=100, unique=True)
    cgroup_version = models.CharField(max_length=4, blank=True)
    kernel = models.CharField(max_length=200, blank=True)
    cpus = models.PositiveIntegerField(default=0)
    memory = models.BigIntegerField(default=0)
    last_seen = models.DateTimeField(null=True, blank=True)
    registered = models.DateTimeField(auto_now_add=True)
    # Where the node's agent serves streams: "" for the agent socket on this machine, else
    # "tcp://host:port" (see engine.streams.endpoints).
    stream_address = models.CharField(max_length=300, blank=True)
    # The IPv4 address the node's VXLAN tunnels start from: a joined node's advertised one; for
    # the control plane's own node, the address the first node reached it at when joining.
    tunnel_address = models.CharField(max_length=15, blank=True)

    class Availability(models.TextChoices):
        ACTIVE = "active"
        DRAIN = "drain"

    # Drained nodes keep what they run and get nothing new (docker node update --availability).
    availability = models.CharField(
        max_length=10, choices=Availability.choices, default=Availability.ACTIVE
    )
    # Placement constraints match these (node.labels.<k>==<v>).
    labels = models.JSONField(default=dict, blank=True)
    engine_version = models.CharField(max_length=40, blank=True)
    # A node that joined a cluster holds credentials of its own (a database role, a Redis
    # user); not so the control plane's own node, which uses the platform's.
    joined = models.BooleanField(default=False)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name

    @property
    def queue(self) -> str:
        return f"node.{self.name}"


class JoinToken(models.Model):
    """A one-time, expiring permission for one host to join as a node; only a hash is kept."""

    secret_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    used = models.DateTimeField(null=True, blank=True)
    used_by = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"join token {self.id}"


class Layer(models.Model):
    diff_id = models.CharField(max_length=71, unique=True)
    digest = models.CharField(max_length=71)
    size = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return self.diff_id[7:19]


class Image(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="images")
    image_id = models.CharField(max_length=71)
    manifest_digest = models.CharField(max_length=71, blank=True)
    tags = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict)
    size = models.BigIntegerField(default=0)
    created = models.DateTimeField()
    layers = models.ManyToManyField(Layer, through="ImageLayer")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "image_id"], name="unique_image_per_node")
        ]

    def __str__(self) -> str:
        return ", ".join(self.tags) or self.image_id[7:19]


class ImageClaim(models.Model):
    """A user's hold on an image of a node beyond what its names grant them.

    Names give most of a user's view of the node's store (engine/services/image_access.py): their
    own namespace, their teams', the shared library. A claim adds what they brought in
    themselves: an image they built, loaded, imported, committed or pulled, by its id
    (`name` empty), so it stays theirs untagged; and a name they pulled from a repository
    they may pull but that is not theirs (another user's public one, `name` set), which
    they see while it still names this image.
    """

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="claims")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_claims"
    )
    name = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "user", "name"], name="one_image_claim")
        ]

    def __str__(self) -> str:
        return f"{self.user} holds {self.name or self.image}"


class ImageLayer(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE)
    layer = models.ForeignKey(Layer, on_delete=models.PROTECT)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]


class Container(models.Model):
    class Status(models.TextChoices):
        CREATED = "created"
        RUNNING = "running"
        PAUSED = "paused"
        RESTARTING = "restarting"
        EXITED = "exited"
        REMOVING = "removing"
        DEAD = "dead"

    id = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=255)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="containers")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    image_id = models.CharField(max_length=71)
    image_ref = models.CharField(max_length=500)
    # The Docker create body as sent (Config part and HostConfig), normalised.
    config = models.JSONField(default=dict)
    host_config = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CREATED)
    pid = models.IntegerField(default=0)
    exit_code = models.IntegerField(default=0)
    oom_killed = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created = models.DateTimeField()
    started_at = models.CharField(max_length=40, default="0001-01-01T00:00:00Z")
    finished_at = models.CharField(max_length=40, default="0001-01-01T00:00:00Z")
    start_count = models.PositiveIntegerField(default=0)
    log_start_offset = models.BigIntegerField(default=0)
    restart_count = models.PositiveIntegerField(default=0)
    stopped_by_user = models.BooleanField(default=False)
    # What `docker inspect` shows as Mounts: volumes, binds and tmpfs, in Docker's shape.
    mounts = models.JSONField(default=list, blank=True)
    # Docker's State.Health of the current (or last) run, written by the node agent's probes.
    health = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "name"], name="unique_container_name")
        ]
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    @property
    def running(self) -> bool:
        return self.status in (self.Status.RUNNING, self.Status.PAUSED)


class ExecInstance(models.Model):
    id = models.CharField(max_length=64, primary_key=True)
    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="execs")
    config = models.JSONField(default=dict)
    running = models.BooleanField(default=False)
    exit_code = models.IntegerField(null=True, blank=True)
    pid = models.IntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)


class Network(models.Model):
    """A network on one node. `bridge`, `host` and `none` are pre-defined and have no owner."""

    class Driver(models.TextChoices):
        BRIDGE = "bridge"
        HOST = "host"
        NULL = "null"

    id = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=255)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="networks")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    driver = models.CharField(max_length=12, choices=Driver.choices, default=Driver.BRIDGE)
    builtin = models.BooleanField(default=False)
    subnet = models.CharField(max_length=43, blank=True)
    gateway = models.CharField(max_length=39, blank=True)
    # Dual stack (`--ipv6`): the IPv6 subnet and gateway, blank on an IPv4-only network.
    subnet6 = models.CharField(max_length=43, blank=True)
    gateway6 = models.CharField(max_length=39, blank=True)
    internal = models.BooleanField(default=False)
    labels = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField()
    # A network made in a cluster spans nodes over VXLAN with this identifier (see
    # engine.services.networks.spans); null for a network of its node alone.
    vni = models.PositiveIntegerField(null=True, blank=True, unique=True)
    # A spanning network's running containers as the nodes were last told them (a digest):
    # the cluster monitor tells them again when the containers no longer match it.
    span_told = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "name"], name="unique_network_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class NetworkAttachment(models.Model):
    """A container's place on a network: what was asked (aliases, address) and, while it has
    an endpoint, what it got."""

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="attachments")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="attachments")
    aliases = models.JSONField(default=list, blank=True)
    requested_ip = models.CharField(max_length=39, blank=True)
    endpoint_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=39, blank=True)
    prefixlen = models.PositiveIntegerField(default=0)
    gateway = models.CharField(max_length=39, blank=True)
    mac = models.CharField(max_length=17, blank=True)
    position = models.PositiveIntegerField(default=0)
    requested_ip6 = models.CharField(max_length=39, blank=True)
    ip6 = models.CharField(max_length=39, blank=True)
    prefixlen6 = models.PositiveIntegerField(default=0)
    gateway6 = models.CharField(max_length=39, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["container", "network"], name="unique_attachment")
        ]
        ordering = ["position", "id"]


class PublishedPort(models.Model):
    """A host port forwarded to a container while it has a network endpoint."""

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="ports")
    host_ip = models.CharField(max_length=39)
    host_port = models.PositiveIntegerField()
    container_port = models.PositiveIntegerField()
    proto = models.CharField(max_length=3, default="tcp")


class Volume(models.Model):
    """A volume of the `local` driver on one node: a directory the node keeps, mounted into
    containers. `anonymous` ones were made for a container's `-v /path` or its image's
    VOLUME and go with it on `docker rm -v`."""

    name = models.CharField(max_length=255)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="volumes")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    driver = models.CharField(max_length=40, default="local")
    labels = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    anonymous = models.BooleanField(default=False)
    created = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "name"], name="unique_volume_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VolumeMount(models.Model):
    """A container's use of a volume; a volume with any is in use and cannot be removed."""

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="volume_mounts")
    volume = models.ForeignKey(Volume, on_delete=models.PROTECT, related_name="mounts")
    destination = models.CharField(max_length=4096)
