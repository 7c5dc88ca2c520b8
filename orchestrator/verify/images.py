"""Checking the images an inventory's image targets push: what the registry serves."""

from __future__ import annotations

from orchestrator.deploy.semver import is_semver, precedence_key, semver_of_package
from orchestrator.errors import PublishError
from orchestrator.images.push import served_image
from orchestrator.images.registry import Registry
from orchestrator.inventory import Inventory
from orchestrator.verify.table import CheckResult


def check_images(
    inventory: Inventory, registry: Registry, version: str | None
) -> list[CheckResult]:
    """One check per image target: the registry serves REPOSITORY:VERSION as that version.

    ``version`` is a package version (``1.3.0~rc.1``); without it, the newest release tag
    the registry has is checked. The image must carry the version label and be built for
    the target's platform.
    """
    results = []
    for target in inventory.image_targets:
        assert target.container is not None  # the inventory requires it of image targets
        repository = target.container.repository
        where = f"{registry.where}/{repository}"
        # A package version (1.3.0~rc.1, 1.3.0~rc.1-1) names its release's tag (1.3.0-rc.1).
        wanted = (semver_of_package(version) or version) if version else None
        try:
            tag = wanted or _newest(registry, repository)
            if tag is None:
                results.append(
                    CheckResult(where, "registry", "-", target.arch, False, "no release tag")
                )
                continue
            served = served_image(registry, repository, tag)
        except PublishError as error:
            results.append(
                CheckResult(where, "registry", wanted or "-", target.arch, False, str(error))
            )
            continue
        if served is None:
            ok, detail = False, f"no {repository}:{tag}"
        elif served.version != tag:
            ok, detail = False, f"{repository}:{tag} is labelled version {served.version!r}"
        elif (served.os, served.architecture) != ("linux", target.arch):
            ok, detail = False, f"{repository}:{tag} is for {served.os}/{served.architecture}"
        else:
            ok, detail = True, f"{repository}:{tag} {served.digest}"
        results.append(CheckResult(where, "registry", tag, target.arch, ok, detail))
    return results


def _newest(registry: Registry, repository: str) -> str | None:
    releases = [tag for tag in registry.tags(repository) if is_semver(tag)]
    return max(releases, key=precedence_key) if releases else None
