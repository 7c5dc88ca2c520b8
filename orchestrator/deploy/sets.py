"""An environment's services as one version: how a set is written, read back and compared; pure.

An environment runs a set of services, each at its own version; a deploy moves the set as
a unit, and a record, the deploy ledger, a promotion and a rollback name it as one text:
``cache 1.5.0, hello 1.2.3`` (the services by name). The set of an environment of one
service is that service's version itself (``1.2.3``), so an environment of one service
reads and writes exactly what it always did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from orchestrator.semver import is_semver, precedence_key

# A service's name and what it puts on a host (its packages, or its Compose services).
Groups = tuple[tuple[str, tuple[str, ...]], ...]
_SEPARATOR = ", "


def set_text(versions: Mapping[str, str]) -> str:
    """The set as one text: the version of a lone service, else ``NAME VERSION, ...`` by name."""
    if len(versions) == 1:
        return next(iter(versions.values()))
    return _SEPARATOR.join(f"{name} {versions[name]}" for name in sorted(versions))


def set_versions(text: str, names: Sequence[str]) -> dict[str, str] | None:
    """Each service's version in ``text``, the set of services ``names``; None if it is not one."""
    if len(names) == 1:
        return {names[0]: text}
    found: dict[str, str] = {}
    for part in text.split(_SEPARATOR):
        name, _, version = part.partition(" ")
        if not version or name in found:
            return None
        found[name] = version
    return found if sorted(found) == sorted(names) else None


def is_release_set(text: str, names: Sequence[str]) -> bool:
    """Whether ``text`` is a set of these services, each at a release version (semver)."""
    versions = set_versions(text, names)
    return versions is not None and all(is_semver(v) for v in versions.values())


def is_release(text: str) -> bool:
    """Whether ``text`` is a release version, or a set of services each at one."""
    if is_semver(text):
        return True
    parts = [part.partition(" ") for part in text.split(_SEPARATOR)]
    return len(parts) > 1 and all(name and is_semver(version) for name, _, version in parts)


def set_order(text: str, names: Sequence[str]) -> tuple[object, ...]:
    """A key that orders the sets of these services: by each service's version, by name."""
    versions = set_versions(text, names) or {}
    return tuple(precedence_key(versions.get(name, "0.0.0")) for name in sorted(names))


def goes_down(wanted: str, running: str, names: Sequence[str]) -> bool:
    """Whether ``wanted`` takes some service below the version it runs in ``running``."""
    new, old = set_versions(wanted, names), set_versions(running, names)
    if new is None or old is None:
        return False
    return any(precedence_key(new[n]) < precedence_key(old[n]) for n in names if n in old)


def grouped_version(
    installed: Mapping[str, str], groups: Groups, release_of: Callable[[str], str | None]
) -> str | None:
    """The set ``installed`` (component -> installed version) holds; None if a service has none.

    A service's version is the one all of its components share, as a release.
    """
    versions: dict[str, str] = {}
    for name, components in groups:
        found = {installed.get(component) for component in components}
        shared = found.pop() if len(found) == 1 else None
        release = release_of(shared) if shared is not None else None
        if release is None:
            return None
        versions[name] = release
    return set_text(versions)
