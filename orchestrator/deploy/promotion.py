"""Which version a promotion takes, and which one a rollback goes back to; pure.

A promotion takes what the upstream environment (``from``) runs on every host, healthy
now and as its records account for it; ``--version`` may pick an older one, if it was
deployed on every upstream host. Either way never a version that failed there, as the
hosts' records or the deploy ledger say. A rollback goes back to the version the hosts
ran before the one they run, as their records say.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.deploy.hoststate import HostState
from orchestrator.deploy.records import Record, failed_versions
from orchestrator.deploy.sets import is_release
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
    ledger: set[str],
) -> str:
    """The version to promote from ``upstream``; UsageError naming why there is none.

    ``healthy`` maps each upstream host to "passed" or what its health check saw now;
    ``ledger`` is what the deploy ledger says failed in ``upstream``.
    """
    records: list[Record] = [r for s in states.values() for r in s.records]
    failed = failed_versions(records, upstream)
    if wanted is not None:
        wanted = wanted.removeprefix("v")
        _refuse_failed(wanted, upstream, failed, ledger)
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
    unrecorded = [
        f"{name} runs {installed}"
        for name, state in states.items()
        if (installed := state.version(components)) is not None
        and not state.recorded(upstream, components)
    ]
    if unrecorded:
        # A host proves only what a deploy put there, checked and recorded.
        raise UsageError(
            f"{', '.join(unrecorded)} of {upstream}: not recorded (installed by hand, or a "
            "deploy killed before its record); nothing is promoted: put them right with "
            f"invoke deploy --env {upstream}"
        )
    running = common_version(states, components)
    if running is None:
        seen = ", ".join(f"{n}: {s.version(components) or 'none'}" for n, s in states.items())
        raise UsageError(
            f"{upstream} does not run one version on every host ({seen}); deploy it first"
        )
    _refuse_failed(running, upstream, failed, ledger)
    sick = [f"{host} ({result})" for host, result in healthy.items() if result != "passed"]
    if sick:
        raise UsageError(
            f"{running} is not healthy on every host of {upstream}: {'; '.join(sick)}; "
            "nothing is promoted"
        )
    return running


def _refuse_failed(version: str, upstream: str, failed: set[str], ledger: set[str]) -> None:
    """UsageError when ``version`` failed in ``upstream``, naming who says so."""
    if version in failed:
        raise UsageError(f"{version} failed in {upstream}; it cannot be promoted")
    if version in ledger:
        # The hosts' records no longer say so: someone with root on them changed them.
        raise UsageError(
            f"{version} failed in {upstream}, as the deploy ledger beside the repository "
            "says (the hosts' records do not: were they changed?); it cannot be promoted"
        )


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
            if record.previous and is_release(record.previous):
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
