"""Which version a promotion takes, and which one a rollback goes back to; pure.

A promotion takes what the upstream environment (``from``) runs on every host, healthy
now; ``--version`` may pick an older one, if it was deployed on every upstream host and
never failed there. A rollback goes back to the version the hosts ran before the one they
run, as their records say.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.deploy.hoststate import HostState
from orchestrator.deploy.records import Record, failed_versions
from orchestrator.deploy.semver import is_semver
from orchestrator.errors import UsageError


def common_version(states: Mapping[str, HostState], components: tuple[str, ...]) -> str | None:
    """The version every host runs; None when they differ or one runs none."""
    versions = {state.version(components) for state in states.values()}
    return versions.pop() if len(versions) == 1 else None


def promotion_candidate(
    upstream: str,
    states: Mapping[str, HostState],
    components: tuple[str, ...],
    healthy: Mapping[str, str],
    wanted: str | None,
) -> str:
    """The version to promote from ``upstream``; UsageError naming why there is none.

    ``healthy`` maps each upstream host to "passed" or what its health check saw now.
    """
    records: list[Record] = [r for s in states.values() for r in s.records]
    failed = failed_versions(records, upstream)
    if wanted is not None:
        wanted = wanted.removeprefix("v")
        if wanted in failed:
            raise UsageError(f"{wanted} failed in {upstream}; it cannot be promoted")
        unproven = [
            name
            for name, state in states.items()
            if not any(
                r.environment == upstream and r.version == wanted and r.result == "deployed"
                for r in state.records
            )
        ]
        if unproven:
            raise UsageError(
                f"{wanted} was never deployed healthy on {', '.join(unproven)} of {upstream}; "
                "only what the upstream environment has proven is promoted"
            )
        return wanted
    running = common_version(states, components)
    if running is None:
        seen = ", ".join(f"{n}: {s.version(components) or 'none'}" for n, s in states.items())
        raise UsageError(
            f"{upstream} does not run one version on every host ({seen}); deploy it first"
        )
    sick = [f"{host} ({result})" for host, result in healthy.items() if result != "passed"]
    if sick:
        raise UsageError(
            f"{running} is not healthy on every host of {upstream}: {'; '.join(sick)}; "
            "nothing is promoted"
        )
    if running in failed:
        raise UsageError(f"{running} failed in {upstream}; it cannot be promoted")
    return running


def refuse_never_deployed(
    environment: str, states: Mapping[str, HostState], components: tuple[str, ...]
) -> None:
    """UsageError when no host of ``environment`` runs a release and none has its records."""
    running = any(state.version(components) for state in states.values())
    recorded = any(r.environment == environment for s in states.values() for r in s.records)
    if not running and not recorded:
        raise UsageError(
            f"{environment} was never deployed: there is nothing to roll back (deploy it "
            f"with invoke deploy --env {environment})"
        )


def rollback_target(
    environment: str, states: Mapping[str, HostState], components: tuple[str, ...]
) -> str:
    """The version the hosts ran before the one they run, from their records."""
    refuse_never_deployed(environment, states, components)
    current = common_version(states, components)
    if current is None:
        seen = ", ".join(f"{n}: {s.version(components) or 'none'}" for n, s in states.items())
        raise UsageError(
            f"{environment}'s hosts do not run one version ({seen}); name one with --to VERSION"
        )
    found = set()
    for state in states.values():
        # Each host's records in the order they were appended: the clock's seconds do not
        # order two deploys of one second.
        for record in reversed([r for r in state.records if r.environment == environment]):
            # Only a deploy that brought the current version says what ran before it: a
            # rollback's record names the version it left, which is not one to go back to,
            # and a deploy that found the version there already (redone: no record said
            # so) says nothing of the one before.
            if (record.version, record.result) != (current, "deployed") or (
                record.previous == current
            ):
                continue
            if record.previous and is_semver(record.previous):
                found.add(record.previous)
            break
    if len(found) == 1:
        return found.pop()
    if len(found) > 1:
        raise UsageError(
            f"{environment}'s hosts ran different versions before {current} "
            f"({', '.join(sorted(found))}); name one with --to VERSION"
        )
    raise UsageError(
        f"no version before {current} is recorded in {environment}; name one with --to VERSION"
    )
