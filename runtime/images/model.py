"""Values describing local images; they cross from the runtime to the engine."""

from dataclasses import dataclass, field


@dataclass
class LayerInfo:
    digest: str
    diff_id: str
    size: int
    media_type: str
    unpacked_size: int = 0


@dataclass
class Image:
    id: str
    manifest_digest: str
    config: dict
    layers: list[LayerInfo]
    tags: list[str] = field(default_factory=list)
    created: str = ""
    size: int = 0

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]
