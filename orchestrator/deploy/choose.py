"""Which version a deploy takes: of its one service, or the set of its services; pure.

What is published for each service, what failed or was rolled back from here (the hosts'
records, the deploy ledger, upstream), and what runs now decide it. An environment of one
service takes its pin or the newest version its range accepts that did not fail here. An
environment of several takes, for each service, its pin or the newest version its range
accepts (never one below what it runs), as one set; a set that failed here is never taken
again, and the next best set is: sets are tried in the inventory's order of the services,
the first service's newest version longest (the project's own image usually comes first).

Before any host changes, each image of the set is resolved once to what the registry
serves under its tag for the hosts' platform: its digest and the ids a host's Docker
knows it by, which every host must then run.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.deploy.index import Available
from orchestrator.deploy.payload import Compose, Payload, Service
from orchestrator.deploy.records import Record, failed_versions
from orchestrator.deploy.request import DeployRequest
from orchestrator.deploy.seams import ReleaseIndex
from orchestrator.deploy.sets import goes_down, is_release_set, set_order, set_text, set_versions
from orchestrator.deploy.survey import Survey
from orchestrator.errors import UsageError
from orchestrator.semver import VersionRange, is_semver, parse_range, precedence_key

# Each service's published versions, by version, newest last.
Offered = Mapping[str, Mapping[str, Available]]
# The sets of versions tried, at most, for one that did not fail.
MAX_SETS = 10_000


def published(
    available: Sequence[Available], payload: Payload, epoch: int | None
) -> dict[str, Available]:
    """The published release versions (semver) and where each is, newest last.

    What is not a release of the project (another epoch, a tag such as ``latest``) is
    never offered (see :meth:`~orchestrator.deploy.payload.Payload.release_offered`).
    """
    found: dict[str, Available] = {}
    for entry in available:
        version = payload.release_offered(entry.installed_version, epoch)
        if version is not None and version not in found:
            found[version] = entry
    return dict(sorted(found.items(), key=lambda item: precedence_key(item[0])))


def environment_records(state: Survey, environment: str) -> list[Record]:
    """Every record of ``environment`` on its hosts, oldest first."""
    records = [r for s in state.states.values() for r in s.records if r.environment == environment]
    return sorted(records, key=lambda r: (r.time, r.run_id))


def accounted_versions(
    state: Survey, environment: str, components: tuple[str, ...]
) -> dict[str, str | None]:
    """What each host runs as the environment's records account for it (semver; None: none).

    See :meth:`~orchestrator.deploy.hoststate.HostState.accounted_version`: a version
    installed with no record (a deploy killed before its record) is not one the
    environment runs, and never makes it look newer than it is.
    """
    return {name: s.accounted_version(environment, components) for name, s in state.states.items()}


def newest_running(running: Mapping[str, str | None], names: Sequence[str]) -> str | None:
    """The newest of the versions (or sets) the hosts run; None when none runs one."""
    found = [v for v in running.values() if v and is_release_set(v, names)]
    return max(found, key=lambda v: set_order(v, names), default=None)


def choose_version(
    environment: str,
    service: Service,
    source: str,
    request: DeployRequest,
    offered: Mapping[str, Available],
    failed: set[str],
    running: Mapping[str, str | None],
) -> str | None:
    """The version of an environment of one service; None when nothing newer is taken.

    ``source`` says where the versions are offered, in words, for errors.

    UsageError for a version that is not a release, not published, outside the range
    (a plain deploy), marked failed or rolled back here, older than what runs (except a
    promotion of an explicit ``--version``: going back is ``env.rollback``'s), or, for a
    rollback, not older than what runs.
    """
    range_ = parse_range(service.version, prereleases=service.prereleases)
    wanted = _wanted(environment, service, source, request, range_, offered, failed)
    _refuse_unfit(environment, service, source, request, range_, wanted, offered, failed)
    newest = newest_running(running, (service.name,))
    return _against_running(environment, (service.name,), request, wanted, newest)


def _wanted(
    environment: str,
    service: Service,
    where: str,
    request: DeployRequest,
    range_: VersionRange,
    offered: Mapping[str, Available],
    failed: set[str],
) -> str:
    """The version asked for, else the environment's pin, else the newest its range takes.

    UsageError when the pin is not published, or the range takes no published version
    that has not failed here.
    """
    if request.version:
        return request.version.removeprefix("v")
    if range_.pin is not None:
        if range_.pin not in offered:
            raise UsageError(
                f"environment {environment} pins {range_.pin}, which is not published {where}; "
                "release it first or change the pin"
            )
        return range_.pin
    best = range_.best(v for v in offered if v not in failed)
    if best is None:
        raise UsageError(
            f"no published version {where} matches {environment}'s range "
            f"{service.version!r} (failed here: {', '.join(sorted(failed)) or 'none'})"
        )
    return best


def _refuse_unfit(
    environment: str,
    service: Service,
    where: str,
    request: DeployRequest,
    range_: VersionRange,
    wanted: str,
    offered: Mapping[str, Available],
    failed: set[str],
) -> None:
    """UsageError for ``wanted`` not a release, not published, failed here, or out of range.

    Out of range counts for a plain deploy of an explicit version only: a promotion or a
    rollback goes where its rules say.
    """
    if not is_semver(wanted):
        raise UsageError(f"{request.flag} {wanted[:40]!r} is not a release version such as 1.2.3")
    if wanted not in offered:
        raise UsageError(
            f"{wanted} is not published {where}; pick one of: {', '.join(offered) or 'none'}"
        )
    _refuse_failed(environment, wanted, failed)
    if request.action == "deploy" and request.version and not range_.accepts(wanted):
        raise UsageError(
            f"{wanted} is outside {environment}'s version {service.version!r}; change the "
            f"inventory or promote it with invoke promote --to {environment}"
        )


def _refuse_failed(environment: str, wanted: str, failed: set[str]) -> None:
    if wanted in failed:
        raise UsageError(
            f"{wanted} failed (or was rolled back) in {environment} and is not deployed there "
            f"again; release a fix as a new version"
        )


def _against_running(
    environment: str,
    names: Sequence[str],
    request: DeployRequest,
    wanted: str,
    newest: str | None,
) -> str | None:
    """``wanted``, held against the newest version (or set) that runs; None: leave the hosts.

    A rollback must go below it; anything else must not (no service may go down), unless
    a promotion of an explicit version allows it: a release's deploy or a plain deploy
    then does nothing, an explicit version is refused (going back is ``env.rollback``'s).
    """
    older = newest is not None and goes_down(wanted, newest, names)
    if request.action == "rollback":
        if newest is not None and not older:
            what = "version" if len(names) == 1 else "set"
            raise UsageError(
                f"{environment} runs {newest}; a rollback goes back to an older {what}, "
                f"not {wanted}"
            )
        return wanted
    if older and not request.allow_older:
        if request.auto or (request.action == "deploy" and not request.version):
            return None
        raise UsageError(
            f"{environment} runs {newest}, newer than {wanted}; go back with invoke "
            f"env.rollback --env {environment} --to {_quoted(wanted)}, or promote it "
            "explicitly with --version"
        )
    return wanted


def _quoted(version: str) -> str:
    """A version or a set as a shell word: a set has spaces."""
    return version if " " not in version else f"'{version}'"


def choose_set(
    payload: Payload,
    request: DeployRequest,
    offered: Offered,
    failed: set[str],
    running: Mapping[str, str | None],
) -> str | None:
    """The set of versions of an environment of several services; None: leave the hosts.

    An explicit set (a promotion's, a rollback's) is checked service by service; else each
    service takes its pin or the newest version its range accepts and is not below what
    it runs, and the best of those sets that did not fail here is taken. A release's
    deploy (``request.release``) puts the project's own services on that release.
    """
    environment, names = payload.environment.name, payload.names
    newest = newest_running(running, names)
    if request.version:
        wanted = request.version
        _refuse_unfit_set(payload, request, wanted, offered, failed)
        return _against_running(environment, names, request, wanted, newest)
    running_versions = set_versions(newest, names) if newest is not None else None
    candidates = [
        [request.release]
        if request.release and service.ours
        else _candidates(
            payload, service, offered[service.name], (running_versions or {}).get(service.name)
        )
        for service in payload.services
    ]
    for combination in itertools.islice(itertools.product(*candidates), MAX_SETS):
        chosen = set_text(dict(zip(names, combination, strict=True)))
        if chosen not in failed:
            return _against_running(environment, names, request, chosen, newest)
    raise UsageError(
        f"every set of versions {environment}'s services may take failed there (failed: "
        f"{'; '.join(sorted(failed))}); release a fix as a new version"
    )


def _candidates(
    payload: Payload, service: Service, offered: Mapping[str, Available], running: str | None
) -> list[str]:
    """A service's versions to take, best first: its pin, or what its range accepts.

    Never below what the service runs: a range that accepts nothing newer keeps it.
    """
    where = f"environment {payload.environment.name}, service {service.name}"
    range_ = parse_range(service.version, prereleases=service.prereleases)
    if range_.pin is not None:
        if range_.pin not in offered:
            raise UsageError(
                f"{where} pins {range_.pin}, which is not published {_source(service)}; "
                "publish it first or change the pin"
            )
        return [range_.pin]
    accepted = sorted((v for v in offered if range_.accepts(v)), key=precedence_key, reverse=True)
    if not accepted:
        raise UsageError(
            f"{where}: no published version {_source(service)} matches its range "
            f"{service.version!r} (published: {', '.join(offered) or 'none'})"
        )
    if running is None or not is_semver(running):
        return accepted
    kept = [v for v in accepted if precedence_key(v) >= precedence_key(running)]
    return kept or [running]


def _source(service: Service) -> str:
    return f"as tags of {service.reference}" if service.reference else "in its channels"


def _refuse_unfit_set(
    payload: Payload, request: DeployRequest, wanted: str, offered: Offered, failed: set[str]
) -> None:
    """UsageError unless ``wanted`` is a set of these services, each published, not failed."""
    environment, names = payload.environment.name, payload.names
    versions = set_versions(wanted, names)
    if versions is None or not all(is_semver(v) for v in versions.values()):
        raise UsageError(
            f"{request.flag} {wanted[:200]!r} is not a version of each of {environment}'s "
            f"services: write it as {set_text({n: 'VERSION' for n in names})!r}"
        )
    for service in payload.services:
        version = versions[service.name]
        if version not in offered[service.name]:
            shown = ", ".join(offered[service.name]) or "none"
            raise UsageError(
                f"{service.name} {version} is not published {_source(service)}; pick one of: "
                f"{shown}"
            )
        range_ = parse_range(service.version, prereleases=service.prereleases)
        if request.action == "deploy" and not range_.accepts(version):
            raise UsageError(
                f"{service.name} {version} is outside its version {service.version!r} in "
                f"{environment}; change the inventory or promote it"
            )
    _refuse_failed(environment, wanted, failed)


def choose_on(
    payload: Payload,
    request: DeployRequest,
    state: Survey,
    offered: Offered,
    also_failed: set[str],
) -> str | None:
    """The version (or set) to deploy on the hosts as ``state`` read them.

    What failed or was rolled back from there, as their records say, and ``also_failed``
    (what failed upstream, and what the deploy ledger says failed here) is never chosen.
    """
    name = payload.environment.name
    running = accounted_versions(state, name, payload.components)
    failed = failed_on(state, name, also_failed)
    if len(payload.services) > 1:
        return choose_set(payload, request, offered, failed, running)
    service = payload.services[0]
    return choose_version(
        name, service, payload.source, request, offered[service.name], failed, running
    )


def failed_on(state: Survey, environment: str, also_failed: set[str]) -> set[str]:
    """What failed or was rolled back from in ``environment`` (its hosts say), and ``also_failed``."""
    return failed_versions(environment_records(state, environment), environment) | also_failed


@dataclass(frozen=True)
class ResolvedImages:
    """Each image of a set as the registry serves it now, which every host must then run.

    ``ids``: per Compose service, what a host's Docker may know its image by; ``digests``:
    per service, the digest its tag named.
    """

    ids: dict[str, tuple[str, ...]]
    digests: dict[str, str]


def resolve_images(payload: Payload, index: ReleaseIndex, version: str) -> ResolvedImages:
    """What the registry serves for each image of ``version`` (none for packages).

    The image is the one of the hosts' platform (``arch``): the tag names an index of one
    per platform, or a single image. Its ids are those a host's Docker may know it by
    (:attr:`~orchestrator.images.served.ServedImage.ids`).

    UsageError, before any host changes, unless the registry serves each tag with an
    image for the environment's platform, and, for one of the project's own images, one
    of this release (its version label): a tag pushed by hand over another image, or one
    the project never released, is not deployed. A third party's image needs no label.
    """
    if not isinstance(payload, Compose):
        return ResolvedImages({}, {})
    versions = set_versions(version, payload.names)
    if versions is None:
        raise UsageError(f"{version!r} is not a version of {', '.join(payload.names)}")
    ids: dict[str, tuple[str, ...]] = {}
    digests: dict[str, str] = {}
    for service in payload.services:
        found, digest = _served_image(payload, index, service, versions[service.name])
        ids |= dict.fromkeys(service.components, found)
        digests[service.name] = digest
    return ResolvedImages(ids, digests)


def refuse_moved(
    payload: Payload, index: ReleaseIndex, version: str, resolved: ResolvedImages
) -> None:
    """UsageError when the registry no longer serves ``resolved``'s digests for ``version``.

    A tag moved (or pushed over) since the deploy resolved it: deploying it now could
    split the environment, or run what was never chosen.
    """
    now = resolve_images(payload, index, version)
    moved = sorted(n for n, digest in resolved.digests.items() if now.digests.get(n) != digest)
    if moved:
        raise UsageError(
            f"the registry moved the tag of {', '.join(moved)} since this deploy resolved it "
            f"for {version}; no host was changed: run it again"
        )


def _served_image(
    payload: Payload, index: ReleaseIndex, service: Service, version: str
) -> tuple[tuple[str, ...], str]:
    """The ids of the image of ``service`` at ``version`` for the hosts' platform, and its digest."""
    environment = payload.environment
    where = f"{service.reference}:{version}"
    served = index.image(environment, service.name, version)
    if served is None:
        raise UsageError(f"the registry no longer serves {where}; nothing was changed")
    platform = f"linux/{environment.arch}"
    image = served.image_for(platform)
    if image is None:
        raise UsageError(
            f"{where} is for {', '.join(served.platforms)}, and {environment.name}'s hosts "
            f"are {platform} (arch): nothing was deployed"
        )
    if service.ours and image.version != version:
        raise UsageError(
            f"{where} for {platform} is labelled version {str(image.version)[:40]!r}, so it is "
            f"not the release {version}: nothing was deployed (was the tag pushed by hand?)"
        )
    return image.ids, served.digest


def desired_version(payload: Payload, offered: Offered, failed: set[str]) -> str | None:
    """What an environment should run now, whatever its hosts run (None: nothing matches).

    Each service's pin, or the newest version its range accepts; of one service never
    one that failed here, of several the best set that did not fail here.
    """
    choices = []
    for service in payload.services:
        range_ = parse_range(service.version, prereleases=service.prereleases)
        if range_.pin is not None:
            choices.append([range_.pin])
            continue
        accepted = [v for v in offered.get(service.name, {}) if range_.accepts(v)]
        if len(payload.services) == 1:
            accepted = [v for v in accepted if v not in failed]
        choices.append(sorted(accepted, key=precedence_key, reverse=True))
    for combination in itertools.islice(itertools.product(*choices), MAX_SETS):
        chosen = set_text(dict(zip(payload.names, combination, strict=True)))
        if len(payload.services) == 1 or chosen not in failed:
            return chosen
    return None
