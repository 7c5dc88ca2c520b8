"""The settings of a repository tree, built from the inventory; pure data.

The repository code reads them without touching the environment: :func:`repo_options`
takes what the inventory declares (its repositories, project and publish targets).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.config.inventory import Inventory
from orchestrator.config.repositories import DEFAULT_VALID_UNTIL_DAYS, RetentionOptions
from orchestrator.version import Channel


class RepoOptions(BaseModel):
    """What a repository tree is called, where it is served from and how it ages."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)

    project: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.+-]*$",
        description="Project name: names the key files, client files and RPM repository ids.",
    )
    origin: str = Field(description="APT Release `Origin` field, e.g. the organisation.")
    label: str = Field(description="APT Release `Label` field and the landing page title.")
    maintainer: str = Field(default="", description="Who runs the repository (landing page).")
    homepage: str = Field(default="", description="Project home page (landing page link).")
    base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s\"'<>]+$",
        description="Public URL of the repository tree root; without it the client files "
        "(.sources, .list, .repo) are not written and the landing page shows a placeholder.",
    )
    environments_page_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s\"'<>]+$",
        description="Where the environments page is published; the landing page links to it.",
    )
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.STABLE, Channel.TESTING, Channel.NIGHTLY],
        min_length=1,
        description="Channels (APT suites, RPM trees) this repository accepts.",
    )
    valid_until_days: int = Field(
        default=DEFAULT_VALID_UNTIL_DAYS,
        ge=1,
        le=3650,
        description="APT Release `Valid-Until` = signing time + this many days; "
        "run `invoke repo.resign` well within it.",
    )
    by_hash_generations: int = Field(
        default=3,
        ge=1,
        le=100,
        description="How many generations of APT indexes stay reachable under by-hash/.",
    )
    deb_architectures: list[str] = Field(
        default_factory=lambda: ["amd64", "arm64"],
        min_length=1,
        description="APT architectures of a suite that holds only `Architecture: all` packages.",
    )
    rpm_architectures: list[str] = Field(
        default_factory=lambda: ["x86_64", "aarch64"],
        min_length=1,
        description="RPM trees that receive `noarch` packages.",
    )
    retention: RetentionOptions = Field(default_factory=RetentionOptions)


def repo_options(inventory: Inventory) -> RepoOptions:
    """The options of the repository tree ``inventory``'s releases go to."""
    repositories = inventory.repositories
    project = inventory.project
    base_url = repositories.base_url or (inventory.publish[0].url if inventory.publish else None)
    pages = [
        f"{target.url.rstrip('/')}/{target.environments_page}"
        for target in inventory.publish
        if target.environments_page is not None
    ]
    return RepoOptions(
        project=project.name,
        origin=repositories.origin or project.name,
        label=repositories.label or project.name,
        maintainer=project.maintainer,
        homepage=project.homepage or "",
        base_url=base_url,
        environments_page_url=pages[0] if pages else None,
        channels=[Channel(name) for name in repositories.channels],
        valid_until_days=repositories.valid_until_days,
        by_hash_generations=repositories.by_hash_generations,
        retention=repositories.retention,
    )
