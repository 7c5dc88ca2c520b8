"""What a host runs, read in one round trip: components, units, records; parsing is pure.

A component is what an environment puts on a host: a package (its installed package
version) or a Compose service (the tag of the image its container runs). An environment
of several services reads its components service by service: the host's version is then
the set of them (:mod:`orchestrator.deploy.sets`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from orchestrator.commands.deploy import MARK
from orchestrator.deploy.records import Record, parse_records
from orchestrator.deploy.sets import Groups, grouped_version, set_versions
from orchestrator.errors import DeployError
from orchestrator.semver import semver_of_package

_INSTALLED = "ii"
# Not installed, purged, or only its configuration files left.
_ABSENT = ("un", "pn", "rc")
# The second letter of dpkg's ${db:Status-Abbrev}: where the package's installation is.
_DPKG_STATES = {
    "n": "not installed",
    "c": "removed, its configuration files left",
    "H": "half-installed",
    "U": "unpacked, not configured",
    "F": "half-configured",
    "W": "awaiting triggers",
    "t": "with triggers pending",
    "i": "installed",
}


@dataclass(frozen=True)
class Unsettled:
    """A package dpkg holds in another state than installed or absent."""

    # dpkg's abbreviation (``${db:Status-Abbrev}``, trimmed): wanted, state, error flag.
    state: str
    version: str

    def describe(self) -> str:
        """The state in words: ``iU`` is "unpacked, not configured"."""
        words = [_DPKG_STATES.get(self.state[1:2], f"in state {self.state[1:2]!r}")]
        if self.state[:1] == "h":
            words.append("held")
        if self.state[2:3] == "R":
            words.append("to be reinstalled")
        return ", ".join(words)


@dataclass(frozen=True)
class HostState:
    """One host as the inspection found it."""

    host: str
    # Component -> its version as installed: a package version, or an image tag (absent
    # when not installed or not running the project's image).
    components: dict[str, str] = field(default_factory=dict)
    # Unit (or service) name -> systemctl is-active's answer ("active" for a running container).
    units: dict[str, str] = field(default_factory=dict)
    records: tuple[Record, ...] = ()
    # Packages dpkg holds in any other state than installed or absent.
    unsettled: dict[str, Unsettled] = field(default_factory=dict)
    # The release an installed version is (semver), or None when it is none.
    release_of: Callable[[str], str | None] = semver_of_package
    # Compose service -> the id of the image its container runs (for drift).
    digests: dict[str, str] = field(default_factory=dict)
    # An environment of several services: each one's name and components. Its version is
    # then the set of theirs (none: one service, whose components share one version).
    groups: Groups = ()

    def installed_version(self, components: tuple[str, ...]) -> str | None:
        """The installed version every one of ``components`` has; None if mixed or missing.

        With several services, the set of each service's installed version.
        """
        if self.groups:
            return grouped_version(self.components, self.groups, lambda installed: installed)
        return shared_version(self.components, components)

    def version(self, components: tuple[str, ...]) -> str | None:
        """The release version the host runs (semver), if its components agree on one.

        With several services, the set of each service's release.
        """
        if self.groups:
            return grouped_version(self.components, self.groups, self.release_of)
        installed = self.installed_version(components)
        return self.release_of(installed) if installed is not None else None

    def last_record(self, environment: str) -> Record | None:
        """The newest record of ``environment`` on this host."""
        mine = [r for r in self.records if r.environment == environment]
        return mine[-1] if mine else None

    def recorded_version(self, environment: str) -> str | None:
        """The version the last record of ``environment`` left here (None: none, or no record).

        A failed or interrupted deploy left the host on the version before it.
        """
        last = self.last_record(environment)
        if last is None:
            return None
        return last.previous if last.result in ("failed", "interrupted") else last.version

    def recorded(self, environment: str, components: tuple[str, ...]) -> bool:
        """Whether the last record of ``environment`` accounts for what is installed.

        Anything else the record does not say was changed by hand (or by a deploy killed
        before it could write its record).
        """
        if self.last_record(environment) is None:
            return False
        return self.recorded_version(environment) == self.version(components)

    def accounted_version(self, environment: str, components: tuple[str, ...]) -> str | None:
        """What the host runs as far as ``environment``'s records account for it.

        A version installed with no record for it (by hand, or by a deploy killed before
        its record) counts as the one the last record left: where the host goes back. A
        host with no record of the environment counts as what it has installed.
        """
        if self.last_record(environment) is None or self.recorded(environment, components):
            return self.version(components)
        return self.recorded_version(environment)

    def settled(
        self,
        environment: str,
        components: tuple[str, ...],
        units: tuple[str, ...],
        installed_version: str,
        image_ids: Mapping[str, tuple[str, ...]] | None = None,
    ) -> bool:
        """Whether the host runs ``installed_version``, its units are up and a record says so.

        With ``image_ids`` (per component, the ids of what the registry serves under its
        tag), each component's container must run that very image: the tag alone may name
        another.
        """
        return (
            self.installed_version(components) == installed_version
            and all(self.units.get(unit) == "active" for unit in units)
            and self.recorded(environment, components)
            and not (image_ids and self.stray_images(components, image_ids))
        )

    def restore_point(
        self, environment: str, components: tuple[str, ...], installed: Mapping[str, str]
    ) -> dict[str, str] | None:
        """What a failed deploy puts back here when no record accounts for what is installed.

        The version the last record left, as ``installed`` (release -> installed version)
        gives it ({} when that is nothing); None when the host goes back to what it has.
        """
        accounted = self.accounted_version(environment, components)
        if accounted == self.version(components):
            return None
        if accounted is None:
            return {}
        if self.groups:
            # A service's image tag is its release: each component goes back to its own.
            names = [name for name, _ in self.groups]
            versions = set_versions(accounted, names) or {}
            return {c: versions[name] for name, cs in self.groups if name in versions for c in cs}
        return dict.fromkeys(components, installed[accounted]) if accounted in installed else None

    def stray_images(
        self, components: tuple[str, ...], image_ids: Mapping[str, tuple[str, ...]]
    ) -> list[str]:
        """The components whose container runs none of their ``image_ids`` (the registry's)."""
        return sorted(c for c in components if self.digests.get(c) not in image_ids.get(c, ()))


def shared_version(versions: Mapping[str, str], components: tuple[str, ...]) -> str | None:
    """The version all of ``components`` have in ``versions``; None if mixed or one is missing."""
    found = {versions.get(name) for name in components}
    return found.pop() if len(found) == 1 else None


def inspection_sections(host: str, output: str) -> tuple[str, str, str]:
    """The three parts an inspection prints between ``MARK`` lines: what runs, units, records.

    The records come last, so a line of the records file that reads like a ``MARK`` stays
    among them.
    """
    sections = output.split(f"{MARK}\n", 2)
    if len(sections) != 3:
        raise DeployError(
            f"{host}: cannot parse the answer to the inspection ({len(output)} characters, "
            f"starting {output[:60]!r})"
        )
    return sections[0], sections[1], sections[2]


def parse_host_state(host: str, output: str, units: tuple[str, ...]) -> HostState:
    """Parse what :func:`orchestrator.commands.deploy.inspect` printed."""
    package_part, unit_part, record_part = inspection_sections(host, output)
    components: dict[str, str] = {}
    unsettled: dict[str, Unsettled] = {}
    for line in package_part.splitlines():
        name, _, rest = line.partition(" ")
        # ${db:Status-Abbrev} is three characters: wanted, state, error flag (or a space).
        abbrev, version = rest[:3].strip(), rest[3:].strip()
        if abbrev == _INSTALLED and version:
            components[name] = version
        elif abbrev not in _ABSENT and name:
            unsettled[name] = Unsettled(abbrev[:3], version[:100])
    answers = unit_part.split()
    states = dict(zip(units, answers, strict=False)) if len(answers) == len(units) else {}
    return HostState(host, components, states, tuple(parse_records(record_part)), unsettled)
