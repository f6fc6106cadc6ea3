"""Request bodies of the Engine API, validated with stable messages."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


def _str_slice(value: Any) -> Any:
    # Docker's StrSlice: a bare string means a one-element list.
    return [value] if isinstance(value, str) else value


StrSlice = Annotated[list[str] | None, BeforeValidator(_str_slice)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class RestartPolicySpec(_Body):
    Name: str = ""
    MaximumRetryCount: int = 0


class UlimitSpec(_Body):
    Name: str
    Soft: int
    Hard: int


class HostConfigSpec(_Body):
    Binds: list[str] | None = None
    Memory: int = 0
    MemorySwap: int = 0
    CpuShares: int = 0
    CpuQuota: int = 0
    CpuPeriod: int = 0
    NanoCpus: int = 0
    PidsLimit: int | None = None
    Privileged: bool = False
    CapAdd: list[str] | None = None
    CapDrop: list[str] | None = None
    ReadonlyRootfs: bool = False
    AutoRemove: bool = False
    RestartPolicy: RestartPolicySpec = Field(default_factory=RestartPolicySpec)
    NetworkMode: str = ""
    PortBindings: dict[str, list[dict[str, str]] | None] | None = None
    PublishAllPorts: bool = False
    Dns: list[str] | None = None
    DnsSearch: list[str] | None = None
    ExtraHosts: list[str] | None = None
    Tmpfs: dict[str, str] | None = None
    Mounts: list[dict[str, Any]] | None = None
    VolumesFrom: list[str] | None = None
    Ulimits: list[UlimitSpec] | None = None
    PidMode: str = ""
    IpcMode: str = ""
    UTSMode: str = ""
    Devices: list[dict] | None = None
    Runtime: str = ""
    SecurityOpt: list[str] | None = None
    GroupAdd: list[str] | None = None
    # Docker's legacy links, "name:alias" (or "name" for an alias of the same name).
    Links: list[str] | None = None


class EndpointIPAMConfig(_Body):
    IPv4Address: str = ""
    IPv6Address: str = ""


class EndpointSettings(_Body):
    Aliases: list[str] | None = None
    IPAMConfig: EndpointIPAMConfig | None = None
    MacAddress: str = ""


class NetworkingSpec(_Body):
    EndpointsConfig: dict[str, EndpointSettings | None] | None = None


class HealthcheckSpec(_Body):
    """Docker's Config.Healthcheck; durations in nanoseconds, 0 or null meaning "inherit or
    default"."""

    Test: StrSlice = None
    Interval: int | None = Field(default=None, ge=0)
    Timeout: int | None = Field(default=None, ge=0)
    StartPeriod: int | None = Field(default=None, ge=0)
    StartInterval: int | None = Field(default=None, ge=0)
    Retries: int | None = Field(default=None, ge=0)


class ContainerCreate(_Body):
    Image: str = Field(min_length=1)
    Hostname: str = ""
    Domainname: str = ""
    User: str = ""
    AttachStdin: bool = False
    AttachStdout: bool = True
    AttachStderr: bool = True
    Tty: bool = False
    OpenStdin: bool = False
    StdinOnce: bool = False
    Env: list[str] | None = None
    Cmd: StrSlice = None
    Entrypoint: StrSlice = None
    WorkingDir: str = ""
    Labels: dict[str, str] | None = None
    StopSignal: str = ""
    StopTimeout: int | None = None
    ExposedPorts: dict[str, dict] | None = None
    Volumes: dict[str, dict] | None = None
    # Before API 1.44 the MAC of the container's first network, now set per endpoint.
    MacAddress: str = ""
    HostConfig: HostConfigSpec = Field(default_factory=HostConfigSpec)
    NetworkingConfig: NetworkingSpec | None = None
    Healthcheck: HealthcheckSpec | None = None


class ContainerUpdate(_Body):
    """POST /containers/{id}/update: what is absent or 0 stays as it is (Docker's rule),
    except PidsLimit, where null keeps and 0 or -1 lift the limit."""

    CpuShares: int = Field(default=0, ge=0)
    CpuQuota: int = Field(default=0, ge=0)
    CpuPeriod: int = Field(default=0, ge=0)
    NanoCpus: int = Field(default=0, ge=0)
    Memory: int = Field(default=0, ge=0)
    MemorySwap: int = 0
    PidsLimit: int | None = None
    RestartPolicy: RestartPolicySpec | None = None


class IPAMPool(_Body):
    # docker-py's IPAMPool sends null for what it was not given.
    Subnet: str | None = None
    Gateway: str | None = None
    IPRange: str | None = None


class IPAMSpec(_Body):
    Driver: str = "default"
    Config: list[IPAMPool] | None = None


class NetworkCreate(_Body):
    Name: str = Field(min_length=1)
    Driver: str = "bridge"
    Internal: bool = False
    EnableIPv6: bool | None = None
    IPAM: IPAMSpec | None = None
    Labels: dict[str, str] | None = None
    Options: dict[str, str] | None = None


class NetworkConnect(_Body):
    Container: str = Field(min_length=1)
    EndpointConfig: EndpointSettings | None = None


class NetworkDisconnect(_Body):
    Container: str = Field(min_length=1)
    Force: bool = False


class ExecCreate(_Body):
    Cmd: StrSlice = None
    AttachStdin: bool = False
    AttachStdout: bool = False
    AttachStderr: bool = False
    Tty: bool = False
    Env: list[str] | None = None
    WorkingDir: str = ""
    User: str = ""
    Privileged: bool = False
    DetachKeys: str = ""


class ExecStart(_Body):
    Detach: bool = False
    Tty: bool = False


class CommitConfig(_Body):
    Cmd: StrSlice = None
    Entrypoint: StrSlice = None
    Env: list[str] | None = None
    WorkingDir: str | None = None
    User: str | None = None
    Labels: dict[str, str] | None = None
    ExposedPorts: dict[str, dict] | None = None
    Volumes: dict[str, dict] | None = None
    StopSignal: str | None = None


def describe(error: ValidationError) -> str:
    """One line a user can act on, naming the first offending field."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"invalid {where}: {first['msg']}"


class VolumeCreate(_Body):
    Name: str = ""
    Driver: str = "local"
    DriverOpts: dict[str, str] | None = None
    Labels: dict[str, str] | None = None
