"""What a published repository should offer, and the client files to check it with; pure.

The packages are the project's, for every architecture the inventory builds; the version
is the one asked for, else whatever the channel offers newest. Client configuration is
written for the publish target's own URL (not read from the tree, whose client files name
the first target only), so every target is checked where it really is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.config.inventory import Inventory
from orchestrator.repo.layout import strip_epoch

RPM_ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}


@dataclass(frozen=True)
class Expectations:
    """The project's packages a repository must serve."""

    project: str
    channels: tuple[str, ...]
    explicit_channels: bool
    deb_arches: tuple[str, ...]
    rpm_arches: tuple[str, ...]
    version: str | None


def channel_of(version: str) -> str:
    """The channel a package version is released to (see :mod:`orchestrator.version`)."""
    if "~nightly." in version:
        return "nightly"
    return "testing" if "~" in version else "stable"


def expectations(inventory: Inventory, version: str | None, channel: str | None) -> Expectations:
    """What ``invoke verify`` checks: ``channel``, else the version's, else every channel."""
    channels: tuple[str, ...] = tuple(inventory.repositories.channels)
    explicit = channel is not None or version is not None
    if channel is not None:
        channels = (channel,)
    elif version is not None:
        channels = (channel_of(version),)
    deb = sorted({t.arch for t in inventory.targets if t.format == "deb"})
    rpm = sorted({RPM_ARCHES[t.arch] for t in inventory.targets if t.format == "rpm"})
    return Expectations(
        project=inventory.project.name,
        channels=channels,
        explicit_channels=explicit,
        deb_arches=tuple(deb),
        rpm_arches=tuple(rpm),
        version=version,
    )


def apt_sources(url: str, channel: str, keyring: str, arches: Sequence[str]) -> str:
    """A one-line sources.list entry trusting only ``keyring``."""
    return f"deb [arch={','.join(arches)} signed-by={keyring}] {url}/deb {channel} main\n"


def rpm_repo_file(url: str, project: str, channel: str) -> str:
    """A .repo file with package and metadata signature checks, as the published one."""
    return (
        f"[{project}-{channel}]\n"
        f"name={project} ({channel})\n"
        f"baseurl={url}/rpm/{channel}/$basearch\n"
        "enabled=1\n"
        "gpgcheck=1\n"
        "repo_gpgcheck=1\n"
        f"gpgkey={url}/keys/{project}.asc\n"
    )


def _upstream(deb_version: str) -> str:
    without_epoch = strip_epoch(deb_version)
    return without_epoch.rsplit("-", 1)[0] if "-" in without_epoch else without_epoch


def deb_versions(show_output: str) -> list[str]:
    """The ``Version:`` of every paragraph ``apt-cache show`` printed."""
    return [
        line.split(":", 1)[1].strip()
        for line in show_output.splitlines()
        if line.startswith("Version:")
    ]


def pick_deb_version(versions: Sequence[str], wanted: str) -> str | None:
    """The listed Debian version whose upstream part is ``wanted`` (``1.2.3`` in ``1.2.3-1``)."""
    return next((version for version in versions if _upstream(version) == wanted), None)


def rpm_spec(project: str, version: str | None) -> str:
    """The package spec dnf queries: ``name`` or ``name-version``."""
    return project if version is None else f"{project}-{version}"


def repoquery_locations(output: str) -> list[str]:
    """The package URLs ``dnf repoquery --location`` printed."""
    return [
        line.strip()
        for line in output.splitlines()
        if "://" in line and line.strip().endswith(".rpm")
    ]
