"""What a host runs, read in one round trip: packages, units, records; parsing is pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.deploy.commands import MARK
from orchestrator.deploy.records import Record, parse_records
from orchestrator.deploy.semver import semver_of_package
from orchestrator.errors import DeployError

_INSTALLED = "ii"
# Not installed, purged, or only its configuration files left.
_ABSENT = ("un", "pn", "rc")


@dataclass(frozen=True)
class HostState:
    """One host as the inspection found it."""

    host: str
    # Package name -> installed package version (absent when not installed).
    packages: dict[str, str] = field(default_factory=dict)
    # Unit name -> systemctl is-active's answer.
    units: dict[str, str] = field(default_factory=dict)
    records: tuple[Record, ...] = ()
    # Packages dpkg holds in any other state than installed or absent: name -> state.
    unsettled: dict[str, str] = field(default_factory=dict)

    def package_version(self, packages: tuple[str, ...]) -> str | None:
        """The package version every one of ``packages`` has; None if mixed or missing."""
        return shared_version(self.packages, packages)

    def version(self, packages: tuple[str, ...]) -> str | None:
        """The release version the host runs (semver), if its packages agree on one."""
        installed = self.package_version(packages)
        return semver_of_package(installed) if installed is not None else None

    def last_record(self, environment: str) -> Record | None:
        """The newest record of ``environment`` on this host."""
        mine = [r for r in self.records if r.environment == environment]
        return mine[-1] if mine else None

    def recorded(self, environment: str, packages: tuple[str, ...]) -> bool:
        """Whether the last record of ``environment`` accounts for what is installed.

        A failed or interrupted deploy left the host on the version before it; anything
        else the record does not say was changed by hand (or by a deploy killed before
        it could write its record).
        """
        last = self.last_record(environment)
        if last is None:
            return False
        ran = last.previous if last.result in ("failed", "interrupted") else last.version
        return ran == self.version(packages)

    def settled(
        self,
        environment: str,
        packages: tuple[str, ...],
        units: tuple[str, ...],
        package_version: str,
    ) -> bool:
        """Whether the host runs ``package_version``, its units are up and a record says so."""
        return (
            self.package_version(packages) == package_version
            and all(self.units.get(unit) == "active" for unit in units)
            and self.recorded(environment, packages)
        )


def shared_version(versions: Mapping[str, str], packages: tuple[str, ...]) -> str | None:
    """The version all of ``packages`` have in ``versions``; None if mixed or one is missing."""
    found = {versions.get(name) for name in packages}
    return found.pop() if len(found) == 1 else None


def parse_host_state(host: str, output: str, units: tuple[str, ...]) -> HostState:
    """Parse what :func:`orchestrator.deploy.commands.inspect` printed."""
    sections = output.split(f"{MARK}\n")
    if len(sections) != 3:
        raise DeployError(f"{host}: unexpected answer to the inspection: {output[:200]!r}")
    package_part, unit_part, record_part = sections
    packages: dict[str, str] = {}
    unsettled: dict[str, str] = {}
    for line in package_part.splitlines():
        name, _, rest = line.partition(" ")
        # ${db:Status-Abbrev} is three characters: wanted, state, error flag (or a space).
        abbrev, version = rest[:3].strip(), rest[3:].strip()
        if abbrev == _INSTALLED and version:
            packages[name] = version
        elif abbrev not in _ABSENT and name:
            unsettled[name] = abbrev
    answers = unit_part.split()
    states = dict(zip(units, answers, strict=False)) if len(answers) == len(units) else {}
    return HostState(host, packages, states, tuple(parse_records(record_part)), unsettled)
