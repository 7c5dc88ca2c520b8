"""The images: pushed by digest, named by one index per repository, then tagged.

- ``push-image`` (before any publish) pushes a target's checked image by digest;
- ``push-index`` then pushes the index of a repository's platforms as the version tag
  and reads every platform back;
- ``tag-image`` (after the publishes) moves the inventory's extra tags to the index on
  plain releases, unless a newer release holds them.

The publish check asks :func:`served_images` what the registry serves at the version.
"""

from __future__ import annotations

from orchestrator.engine.run_ids import is_run_id
from orchestrator.errors import PublishError, UsageError
from orchestrator.images.index import platform_mismatch
from orchestrator.images.names import RUN_LABEL
from orchestrator.images.push import push_image, push_index, tag_image
from orchestrator.images.registry import Registry
from orchestrator.images.saved import read_saved_image
from orchestrator.images.served import ServedImage, served_tag
from orchestrator.release.handlers.context import ReleaseContext
from orchestrator.release.handlers.family import Family
from orchestrator.release.journal import JOURNAL, read_journal
from orchestrator.release.operations import PushImage, PushIndex, TagImage
from orchestrator.release.plan import moved_tag
from orchestrator.release.summary import ImageSummary
from orchestrator.semver import is_semver, precedence_key
from orchestrator.version import parse_tag

FAMILY = Family("images")


def registry(context: ReleaseContext) -> Registry:
    """The registry image targets push to, opened once."""
    if context.image_registry is None:
        if context.seams.registry is None:
            raise PublishError("image targets need a registry: add 'registry' to the inventory")
        context.image_registry = context.seams.registry()
    return context.image_registry


def served_images(context: ReleaseContext) -> dict[str, ServedImage | None]:
    """What the registry serves at this version, by image target: its platform's image."""
    indexes = [op for op in context.plan.after if isinstance(op, PushIndex)]
    if not indexes:
        return {}
    opened = registry(context)
    found: dict[str, ServedImage | None] = {}
    for op in indexes:
        served = served_tag(opened, op.repository, op.tag)
        for target, platform in zip(op.targets, op.platforms, strict=True):
            found[target] = served.image_for(platform) if served is not None else None
    return found


@FAMILY.run_wide(PushImage)
def push_target_image(operation: PushImage, context: ReleaseContext) -> None:
    """Push the target's image by digest; its index checks it once the tag names it."""
    target = context.plan.target(operation.target)
    images = [a for a in context.runs[target.name].artifacts if a.kind == "image"]
    if not images:
        return  # no build ran (the local tree had the version): the index is read back
    image = read_saved_image(images[0].path, target.name, max_bytes=target.limits.unpacked_bytes)
    work = context.paths.run_dir / "images" / target.name
    context.platforms[target.name] = push_image(
        image, registry(context), operation.repository, work
    )


@FAMILY.run_wide(PushIndex)
def push_repository_index(operation: PushIndex, context: ReleaseContext) -> None:
    """Push the index of the platforms' images as the version tag, then read it back.

    Nothing goes under the tag unless the images pushed are one per target's platform;
    what the registry then serves must be exactly those platforms, each labelled with
    the version.
    """
    opened = registry(context)
    reference = f"{operation.repository}:{operation.tag}"
    pushed = [context.platforms[t] for t in operation.targets if t in context.platforms]
    index: str | None = None
    if pushed:
        mismatch = platform_mismatch([m.platform for m in pushed], operation.platforms)
        if mismatch is not None:
            raise PublishError(f"the images built for {reference}: {mismatch}; not pushed")
        index = push_index(
            opened,
            operation.repository,
            operation.tag,
            pushed,
            may_replace=lambda digest: _pushed_by_a_dead_run(
                context, opened, operation.repository, digest
            ),
        )
    served = served_tag(opened, operation.repository, operation.tag)
    if served is None:
        # No build ran (the local tree had the version): the image was pushed with it.
        raise PublishError(
            f"{opened.where} has no {reference}, and images are pushed only by the "
            "run that builds them: release a new version"
        )
    if index is not None and served.digest != index:
        raise PublishError(f"{opened.where} serves {reference} as {served.digest}, not {index}")
    mismatch = platform_mismatch(served.platforms, operation.platforms)
    if mismatch is not None:
        raise PublishError(f"{opened.where} serves {reference}, but {mismatch}")
    where = f"{opened.address}/{reference}"
    version = operation.tag
    for target, platform in zip(operation.targets, operation.platforms, strict=True):
        image = served.image_for(platform)
        assert image is not None  # the platforms are the targets'
        if image.version != version:
            raise PublishError(
                f"{opened.where} serves {reference} for {platform} as version "
                f"{str(image.version)[:40]!r}, not {version}"
            )
        context.images.append(ImageSummary(target, where, served.digest, platform, image.digest))
    context.indexes[operation.repository] = served.digest
    context.messages.append(f"image {where} {served.digest} ({', '.join(served.platforms)})")


def _pushed_by_a_dead_run(
    context: ReleaseContext, opened: Registry, repository: str, digest: str
) -> bool:
    """Whether what a tag names was pushed by a run of this workspace that published nothing.

    Only then may this run push over it: the run-id label of every image it names
    is one run of this tag and version that died (its journal never ended) or
    failed, and no repository serves the version.
    """
    if context.repositories_serve_version:
        return False
    plan = context.plan
    found = served_tag(opened, repository, digest)
    runs = {image.labels.get(RUN_LABEL) for image in found.images} if found else set()
    run = runs.pop() if len(runs) == 1 else None
    if run is None or not is_run_id(run) or run == plan.run_id:
        return False
    journal = read_journal(context.paths.run_dir.parent / run / JOURNAL) or {}
    return (journal.get("tag"), journal.get("version")) == (
        plan.tag,
        plan.version,
    ) and journal.get("status") in ("running", "interrupted", "failed")


@FAMILY.run_wide(TagImage)
def tag_repository_image(operation: TagImage, context: ReleaseContext) -> None:
    """Move each tag unless a newer plain release already holds it (no going back)."""
    opened = registry(context)
    digest = context.indexes[operation.repository]
    mine = precedence_key(operation.version)
    releases = [t for t in opened.tags(operation.repository) if is_semver(t) and "-" not in t]
    moved: list[str] = []
    for template, tag in zip(operation.templates, operation.tags, strict=True):
        newer = [r for r in releases if precedence_key(r) > mine and _rendered(template, r) == tag]
        if newer:
            holder = max(newer, key=precedence_key)
            context.messages.append(f"kept {tag} of {operation.repository} at the newer {holder}")
        else:
            moved.append(tag)
    if moved:
        tag_image(opened, operation.repository, digest, moved)
        context.messages.append(f"moved {', '.join(moved)} of {operation.repository} to {digest}")


def _rendered(template: str, version: str) -> str | None:
    """What a tag template renders to for the plain release ``version`` (None if it cannot)."""
    try:
        return moved_tag(template, parse_tag(f"v{version}"), "tag")
    except UsageError:
        return None
