"""Checking the images an inventory's image targets push: what the registry serves."""

from __future__ import annotations

from orchestrator.config.inventory import BuildTarget, Inventory
from orchestrator.errors import PublishError
from orchestrator.images.registry import Registry
from orchestrator.images.served import ServedTag, served_tag
from orchestrator.semver import is_semver, precedence_key, semver_of_package
from orchestrator.verify.table import CheckResult


def check_images(
    inventory: Inventory, registry: Registry, version: str | None
) -> list[CheckResult]:
    """One check per image target: the registry serves its platform in REPOSITORY:VERSION.

    ``version`` is a package version (``1.3.0~rc.1``); without it, the newest release tag
    the registry has is checked. The tag is read once per repository, an index with every
    platform in it (or a single image): each target's platform must be there, labelled
    with the version, and a platform no target builds fails a check of its own.
    """
    # A package version (1.3.0~rc.1, 1.3.0~rc.1-1) names its release's tag (1.3.0-rc.1).
    wanted = (semver_of_package(version) or version) if version else None
    results = []
    for repository, targets in inventory.image_repositories.items():
        where = f"{registry.where}/{repository}"
        try:
            tag = wanted or _newest(registry, repository)
            served = served_tag(registry, repository, tag) if tag is not None else None
        except PublishError as error:
            results += [_failed(where, wanted or "-", t, str(error)) for t in targets]
            continue
        if tag is None or served is None:
            missing = "no release tag" if tag is None else f"no {repository}:{tag}"
            results += [_failed(where, tag or "-", t, missing) for t in targets]
            continue
        results += check_tag(where, repository, tag, served, targets)
    return results


def check_tag(
    where: str, repository: str, tag: str, served: ServedTag, targets: list[BuildTarget]
) -> list[CheckResult]:
    """The checks of what ``repository:tag`` serves against its image ``targets``; pure."""
    results = []
    for target in targets:
        platform = f"linux/{target.arch}"
        image = served.image_for(platform)
        if image is None:
            ok, others = False, ", ".join(served.platforms)
            detail = f"{repository}:{tag} has no {platform} image (it has {others})"
        elif image.version != tag:
            ok, detail = False, f"{repository}:{tag} for {platform} is labelled {image.version!r}"
        else:
            ok, detail = True, f"{repository}:{tag} {served.digest}"
            if served.index:
                detail += f" ({platform} {image.digest[:19]})"
        results.append(CheckResult(where, "registry", tag, target.arch, ok, detail))
    built = {f"linux/{target.arch}" for target in targets}
    results += [
        CheckResult(
            where, "registry", tag, image.architecture[:20], False,
            f"{repository}:{tag} has a {image.platform} image, which no image target builds",
        )
        for image in served.images
        if image.platform not in built
    ]  # fmt: skip
    return results


def _failed(where: str, tag: str, target: BuildTarget, detail: str) -> CheckResult:
    return CheckResult(where, "registry", tag, target.arch, False, detail)


def _newest(registry: Registry, repository: str) -> str | None:
    releases = [tag for tag in registry.tags(repository) if is_semver(tag)]
    return max(releases, key=precedence_key) if releases else None
