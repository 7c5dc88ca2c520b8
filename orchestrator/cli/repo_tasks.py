"""``invoke repo.build``, ``repo.resign``, ``repo.prune``: local repository trees."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task
from pydantic import ValidationError

from orchestrator.cli.common import INVENTORY_HELP, count_flag, load, now, reports_errors
from orchestrator.cli.wiring.signing import signing_environ
from orchestrator.config.inventory import Inventory
from orchestrator.config.repositories import RetentionOptions
from orchestrator.errors import UsageError
from orchestrator.repo import build as builder
from orchestrator.repo.build import RepoChange
from orchestrator.repo.options import RepoOptions, repo_options
from orchestrator.repo.signing import Signer, open_signer

SIGNING_HELP = {
    "key": "fingerprint of the signing key (default: the inventory's signing section)",
    "gnupghome": "GnuPG home holding --key (default: the inventory's, else gpg's default)",
}
TREE_HELP = {
    "repo": "repository tree directory (created if missing)",
    "inventory": INVENTORY_HELP,
}


def _options(loaded: Inventory, keep_last: int | None = None) -> RepoOptions:

    options = repo_options(loaded)
    if keep_last is None:
        return options
    if keep_last < 1:
        raise UsageError(f"--keep-last takes a number >= 1, got {keep_last}")
    return options.model_copy(update={"retention": RetentionOptions(keep_last=keep_last)})


def _with_signing(loaded: Inventory, key: str | None, gnupghome: str | None) -> Inventory:
    """The inventory, with the key --key/--gnupghome name instead of its own."""
    if key is None and gnupghome is None:
        return loaded
    try:
        signing = loaded.signing.model_validate(
            {
                **loaded.signing.model_dump(),
                "fingerprint": key or loaded.signing.fingerprint,
                "gnupghome": gnupghome or loaded.signing.gnupghome,
                # A key named on the command line replaces the sandbox's throwaway key.
                "sandbox_key": loaded.signing.sandbox_key and key is None,
            }
        )
    except ValidationError as error:
        raise UsageError(f"invalid --key/--gnupghome: {error.errors()[0]['msg']}") from None
    return loaded.model_copy(update={"signing": signing})


def _signer(
    loaded: Inventory, key: str | None, gnupghome: str | None
) -> AbstractContextManager[Signer]:
    """Open the inventory's signing key, or the one --key/--gnupghome name."""
    chosen = _with_signing(loaded, key, gnupghome)
    return open_signer(chosen.signing, signing_environ(chosen))


def _print(change: RepoChange) -> None:
    for path in change.added:
        print(f"added {path}")
    for path in change.skipped_identical:
        print(f"unchanged {path}")
    for path in change.rewritten:
        print(f"wrote {path}")
    print(
        f"{len(change.added)} added, {len(change.skipped_identical)} already present, "
        f"{len(change.rewritten)} written"
    )


@task(
    help={
        **TREE_HELP,
        **SIGNING_HELP,
        "packages": "directory searched recursively for .deb and .rpm files",
        "channel": "channel (APT suite, RPM tree) to add them to",
    }
)
@reports_errors
def build(
    c: Context,
    packages: str,
    repo: str,
    channel: str = "stable",
    key: str | None = None,
    gnupghome: str | None = None,
    inventory: str | None = None,
) -> None:
    """Add every package under --packages to the tree at --repo, re-index and sign."""
    loaded = load(c, inventory)
    options = _options(loaded)
    found = builder.find_packages(Path(packages))
    with _signer(loaded, key, gnupghome) as signer:
        _print(builder.add_packages(found, Path(repo), channel, options, signer, now()))


@task(help={**TREE_HELP, **SIGNING_HELP})
@reports_errors
def resign(
    c: Context,
    repo: str,
    key: str | None = None,
    gnupghome: str | None = None,
    inventory: str | None = None,
) -> None:
    """Re-sign every suite with a fresh Date and Valid-Until (run it periodically)."""
    loaded = load(c, inventory)
    options = _options(loaded)
    with _signer(loaded, key, gnupghome) as signer:
        _print(builder.resign(Path(repo), options, signer, now()))


@task(
    help={
        **TREE_HELP,
        **SIGNING_HELP,
        "keep_last": "keep the last N versions per package, architecture and channel "
        "(default: repositories.retention.keep_last)",
        "dry_run": "only print what would be removed",
    }
)
@reports_errors
def prune(
    c: Context,
    repo: str,
    keep_last: str | None = None,
    dry_run: bool = False,
    key: str | None = None,
    gnupghome: str | None = None,
    inventory: str | None = None,
) -> None:
    """Remove versions beyond the retention limit and re-index; --dry-run shows what would go."""
    keep = None if keep_last is None else count_flag(keep_last, "--keep-last", maximum=100_000)
    loaded = load(c, inventory)
    options = _options(loaded, keep)
    if options.retention.keep_last is None:
        raise UsageError(
            "every version is kept: set repositories.retention.keep_last or pass --keep-last N"
        )
    if dry_run:
        pruned = builder.plan_prune(Path(repo), options)
    else:
        with _signer(loaded, key, gnupghome) as signer:
            pruned = builder.prune(Path(repo), options, signer, now())
    verb = "would remove" if dry_run else "removed"
    for item in pruned:
        print(f"{verb} {item.path} ({item.channel} {item.name} {item.version} {item.arch})")
    print(f"{len(pruned)} package file(s) {'would be removed' if dry_run else 'removed'}")


namespace = Collection("repo", build, resign, prune)
