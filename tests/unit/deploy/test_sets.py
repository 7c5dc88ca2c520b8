"""An environment of several services: its set as one version, chosen, read, moved as one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.commands.deploy import MARK
from orchestrator.config.inventory import Inventory, parse_inventory
from orchestrator.deploy.actions import auto_environments
from orchestrator.deploy.choose import choose_set, desired_version, refuse_moved, resolve_images
from orchestrator.deploy.compose import parse_state
from orchestrator.deploy.index import Available
from orchestrator.deploy.payload import Compose, payload_of
from orchestrator.deploy.records import Record, parse_record
from orchestrator.deploy.request import DeployRequest
from orchestrator.deploy.run import DeployOutcome
from orchestrator.deploy.sets import goes_down, grouped_version, set_text, set_versions
from orchestrator.deploy.track import Tracked, _tracked
from orchestrator.errors import InventoryError, UsageError
from orchestrator.images.names import VERSION_LABEL
from orchestrator.images.served import ServedImage, ServedTag
from orchestrator.testing.deploy import FakeReleaseIndex

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = "127.79.0.1:5000"


def inventory(**changes: Any) -> Inventory:
    """The sandbox inventory, container-dev changed by ``changes``."""
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    for environment in data["environments"]:
        if environment["name"] == "container-dev":
            environment.update(changes)
    return parse_inventory(yaml.safe_dump(data), Path("inv.yaml"))


def offered(*versions: str) -> dict[str, Available]:
    return {v: Available(v, "registry") for v in versions}


def test_a_set_is_written_by_name_and_one_service_is_its_version() -> None:
    assert set_text({"hello": "1.2.3"}) == "1.2.3"
    assert set_text({"hello": "1.2.3", "cache": "1.5.0"}) == "cache 1.5.0, hello 1.2.3"
    assert set_versions("cache 1.5.0, hello 1.2.3", ["hello", "cache"]) == {
        "hello": "1.2.3",
        "cache": "1.5.0",
    }
    assert set_versions("1.2.3", ["hello"]) == {"hello": "1.2.3"}
    for text in ("cache 1.5.0", "cache 1.5.0, other 1.0.0", "cache 1.5.0, cache 1.6.0", "1.2.3"):
        assert set_versions(text, ["hello", "cache"]) is None, text
    assert goes_down("cache 1.4.0, hello 1.2.4", "cache 1.5.0, hello 1.2.3", ["hello", "cache"])
    assert not goes_down("cache 1.5.0, hello 1.2.4", "cache 1.5.0, hello 1.2.3", ["hello", "cache"])


def test_the_sandbox_runs_hello_beside_a_third_partys_cache() -> None:
    payload = payload_of(inventory(), inventory().environment("container-dev"))
    assert isinstance(payload, Compose)
    assert payload.names == ("hello", "cache")
    hello, cache = payload.services
    assert (hello.ours, hello.reference) == (True, f"{REGISTRY}/hello")
    assert (cache.ours, cache.reference) == (False, f"{REGISTRY}/vendor/cache")
    assert payload.components == ("hello", "cache")
    assert payload.groups == (("hello", ("hello",)), ("cache", ("cache",)))


def test_a_host_runs_a_set_only_when_every_service_runs_its_own_image() -> None:
    payload = payload_of(inventory(), inventory().environment("container-dev"))
    running = (
        f"hello {REGISTRY}/hello:1.2.3 sha256:h running\n"
        f"cache {REGISTRY}/vendor/cache:1.5.0 sha256:c running\n{MARK}\n{MARK}\n"
    )
    state = payload.parse("cdev-1", running)
    assert state.version(payload.components) == "cache 1.5.0, hello 1.2.3"
    assert state.digests == {"hello": "sha256:h", "cache": "sha256:c"}
    # cache's container runs hello's image: not cache at any version.
    crossed = running.replace(f"{REGISTRY}/vendor/cache:1.5.0", f"{REGISTRY}/hello:1.5.0")
    assert payload.parse("cdev-1", crossed).version(payload.components) is None
    half = f"hello {REGISTRY}/hello:1.2.3 sha256:h running\n{MARK}\n{MARK}\n"
    assert payload.parse("cdev-1", half).version(payload.components) is None
    assert parse_state("x", running, {"hello": f"{REGISTRY}/hello"}).components == {
        "hello": "1.2.3"
    }
    groups = (("hello", ("web", "worker")), ("cache", ("cache",)))
    mixed = {"web": "1.2.3", "worker": "1.2.4", "cache": "1.5.0"}
    assert grouped_version(mixed, groups, lambda v: v) is None
    assert grouped_version(mixed | {"worker": "1.2.3"}, groups, lambda v: v) == (
        "cache 1.5.0, hello 1.2.3"
    )


def _choose(
    request: DeployRequest,
    *,
    hello: dict[str, Available],
    cache: dict[str, Available],
    failed: set[str] | None = None,
    running: str | None = None,
    **changes: Any,
) -> str | None:
    loaded = inventory(**changes)
    payload = payload_of(loaded, loaded.environment("container-dev"))
    return choose_set(
        payload, request, {"hello": hello, "cache": cache}, failed or set(), {"cdev-1": running}
    )


def test_each_service_takes_the_newest_its_range_accepts_never_a_failed_set() -> None:
    request = DeployRequest("container-dev")
    cache = offered("1.4.0", "1.5.0", "2.0.0")
    hello = offered("1.2.3", "1.2.4")
    assert _choose(request, hello=hello, cache=cache) == "cache 1.5.0, hello 1.2.4"
    # That set failed: the next best is taken, the first service's newest first.
    failed = {"cache 1.5.0, hello 1.2.4"}
    assert _choose(request, hello=hello, cache=cache, failed=failed) == "cache 1.4.0, hello 1.2.4"
    # Never below what runs: cache stays on 1.5.0 even if only 1.4.0 would be left.
    assert (
        _choose(request, hello=hello, cache=cache, running="cache 1.5.0, hello 1.2.3")
        == "cache 1.5.0, hello 1.2.4"
    )
    # A release's deploy puts the project's own service on it, the third party by range.
    release = DeployRequest("container-dev", release="1.2.3", auto=True)
    assert _choose(release, hello=hello, cache=cache) == "cache 1.5.0, hello 1.2.3"


def test_a_range_no_tag_matches_or_an_unpublished_pin_is_refused() -> None:
    request = DeployRequest("container-dev")
    with pytest.raises(UsageError, match=re.escape("service cache: no published version")):
        _choose(request, hello=offered("1.2.3"), cache=offered("2.0.0"))
    services = inventory().environment("container-dev").model_dump(by_alias=True)["services"]
    services[1]["version"] = "1.6.0"
    with pytest.raises(
        UsageError, match=re.escape("service cache pins 1.6.0, which is not published")
    ):
        _choose(request, hello=offered("1.2.3"), cache=offered("1.5.0"), services=services)


def test_a_promotions_set_is_checked_service_by_service() -> None:
    hello, cache = offered("1.2.3"), offered("1.4.0", "1.5.0")
    promote = DeployRequest("container-dev", "cache 1.5.0, hello 1.2.3", "promote")
    assert _choose(promote, hello=hello, cache=cache) == "cache 1.5.0, hello 1.2.3"
    for wanted, message in (
        ("hello 1.2.3", "is not a version of each of container-dev's services"),
        ("cache 1.6.0, hello 1.2.3", "cache 1.6.0 is not published"),
        ("cache latest, hello 1.2.3", "is not a version of each"),
    ):
        bad = DeployRequest("container-dev", wanted, "promote")
        with pytest.raises(UsageError, match=re.escape(message)):
            _choose(bad, hello=hello, cache=cache)
    failed = {"cache 1.5.0, hello 1.2.3"}
    with pytest.raises(UsageError, match="failed \\(or was rolled back\\) in container-dev"):
        _choose(promote, hello=hello, cache=cache, failed=failed)
    # A promotion does not take a service below what runs, unless asked for explicitly.
    with pytest.raises(UsageError, match=re.escape("runs cache 1.5.0, hello 1.2.4, newer than")):
        _choose(
            promote,
            hello=offered("1.2.3", "1.2.4"),
            cache=cache,
            running="cache 1.5.0, hello 1.2.4",
        )


def test_a_rollback_of_a_set_goes_down() -> None:
    back = DeployRequest("container-dev", "cache 1.4.0, hello 1.2.3", "rollback")
    hello, cache = offered("1.2.3"), offered("1.4.0", "1.5.0")
    assert (
        _choose(back, hello=hello, cache=cache, running="cache 1.5.0, hello 1.2.3")
        == "cache 1.4.0, hello 1.2.3"
    )
    same = DeployRequest("container-dev", "cache 1.5.0, hello 1.2.3", "rollback")
    with pytest.raises(UsageError, match="a rollback goes back to an older set"):
        _choose(same, hello=hello, cache=cache, running="cache 1.5.0, hello 1.2.3")


def test_the_desired_set_is_the_best_that_did_not_fail() -> None:
    loaded = inventory()
    payload = payload_of(loaded, loaded.environment("container-dev"))
    both = {"hello": offered("1.2.3", "1.2.4"), "cache": offered("1.4.0", "1.5.0", "2.0.0")}
    assert desired_version(payload, both, set()) == "cache 1.5.0, hello 1.2.4"
    assert (
        desired_version(payload, both, {"cache 1.5.0, hello 1.2.4"}) == "cache 1.4.0, hello 1.2.4"
    )
    assert desired_version(payload, {"hello": {}, "cache": {}}, set()) is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"version": "1.2.3"}, "move version into them"),
        ({"health": {"command": "true"}}, "move health into them"),
        ({"services": []}, "compose.image (the project's image) or 'services'"),
        ({"kind": "packages", "compose": None}, "'services' are for kind: compose"),
        ({"compose": {"directory": "/srv/hello", "image": "hello", "services": ["hello"],
                      "tag_variable": "T"}}, "give compose.image or 'services', not both"),
    ],
)  # fmt: skip
def test_an_environment_of_services_is_checked(edit: dict[str, Any], message: str) -> None:
    with pytest.raises(InventoryError, match=re.escape(message)):
        inventory(**edit)


def _services(**cache: Any) -> list[dict[str, Any]]:
    hello = {"name": "hello", "image": "hello", "tag_variable": "HELLO_TAG", "version": "*"}
    return [hello, {"name": "cache", "image": "vendor/cache", "tag_variable": "CACHE_TAG",
                    "version": "^1.4.0"} | cache]  # fmt: skip


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ({"name": "hello"}, "service hello is named twice"),
        ({"compose_services": ["hello"]}, "Compose service hello is named twice"),
        ({"tag_variable": "HELLO_TAG"}, "tag_variable HELLO_TAG is named twice"),
        ({"tag_variable": None}, "give a tag_variable, or compose.override_file"),
        ({"tag_variable": "PATH"}, "read by Compose or the shell"),
        ({"version": "banana"}, "is not a version"),
        ({"registry": {"url": "https://r.example", "username_env": "U"}}, "both 'username_env'"),
        ({"registry": {"url": "http://r.example"}}, "plain http would send the login"),
    ],
)  # fmt: skip
def test_each_service_is_checked(cache: dict[str, Any], message: str) -> None:
    with pytest.raises(InventoryError, match=re.escape(message)):
        inventory(services=_services(**cache))


def test_a_promoted_environment_runs_only_what_its_upstream_runs() -> None:
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    staging = next(e for e in data["environments"] if e["name"] == "container-staging")
    staging["services"][1] = staging["services"][1] | {"name": "redis", "image": "library/redis"}
    with pytest.raises(InventoryError, match=r"service 'redis' .* does not run in 'container-dev'"):
        parse_inventory(yaml.safe_dump(data), Path("inv.yaml"))


def test_a_record_keeps_each_images_digest_and_a_packages_record_is_as_it_was() -> None:
    record = Record(
        "2026-12-07T10:00:00Z", "r1", "container-dev", "cdev-1", "deploy",
        "cache 1.5.0, hello 1.2.3", None, "deployed", "ci",
        digests={"hello": "sha256:aa", "cache": "sha256:bb"},
    )  # fmt: skip
    assert parse_record(record.to_line()) == record
    plain = Record("t", "r", "prod", "prod-1", "deploy", "1.2.3", None, "deployed", "ci")
    assert "digests" not in plain.to_line()
    assert parse_record(plain.to_line()) == plain
    hostile = record.to_line().replace('{"cache"', '{"cache":{"x":1},"x"')
    assert parse_record(hostile) is None


def test_track_moves_a_range_to_what_a_deploy_takes_and_a_pin_within_its_track_range() -> None:
    loaded = inventory()
    payload = payload_of(loaded, loaded.environment("container-dev"))
    cache = payload.service("cache")
    moves = _tracked(payload, cache, offered("1.4.0", "1.5.0", "2.0.0"), "1.4.0", "1.5.0")
    assert (moves.proposed, moves.pin) == ("1.5.0", False)
    stays = _tracked(payload, cache, offered("1.5.0"), "1.5.0", "1.5.0")
    assert stays.proposed is None and "nothing newer than 1.5.0" in stays.why
    pinned = cache.__class__(**{**cache.__dict__, "version": "1.4.0"})
    moved: Tracked = _tracked(payload, pinned, offered("1.4.0", "1.5.0", "2.0.0"), "1.4.0", None)
    # ^1.4.0 by default: 1.5.0, never 2.0.0.
    assert (moved.proposed, moved.pin) == ("1.5.0", True)
    held = cache.__class__(**{**cache.__dict__, "version": "1.4.0", "track": "~1.4.0"})
    assert _tracked(payload, held, offered("1.4.0", "1.5.0"), "1.4.0", None).proposed is None


def _served(digest: str, version: str | None = None) -> ServedTag:
    labels = {VERSION_LABEL: version} if version else {}
    image = ServedImage(digest + "m", labels, "amd64", "linux", image_id=digest + "c")
    return ServedTag(digest, (image,))


def test_an_image_is_resolved_once_and_a_tag_moved_since_is_refused_with_exit_2() -> None:
    loaded = inventory()
    payload = payload_of(loaded, loaded.environment("container-dev"))
    images = {"hello:1.2.3": _served("sha256:h", "1.2.3"), "cache:1.5.0": _served("sha256:c")}
    index = FakeReleaseIndex([], images=images)
    resolved = resolve_images(payload, index, "cache 1.5.0, hello 1.2.3")
    # A third party's image needs no version label; ours must carry its release's.
    assert resolved.digests == {"hello": "sha256:h", "cache": "sha256:c"}
    assert resolved.ids["cache"] == ("sha256:cc", "sha256:cm")
    refuse_moved(payload, index, "cache 1.5.0, hello 1.2.3", resolved)
    index.images["cache:1.5.0"] = _served("sha256:other")
    with pytest.raises(UsageError, match="moved the tag of cache since this deploy resolved it"):
        refuse_moved(payload, index, "cache 1.5.0, hello 1.2.3", resolved)
    index.images["hello:1.2.3"] = _served("sha256:h", "9.9.9")
    with pytest.raises(UsageError, match=re.escape("labelled version '9.9.9'")):
        resolve_images(payload, index, "cache 1.5.0, hello 1.2.3")
    refused = DeployOutcome("r1", "container-dev", "deploy", "v", "refused", "moved")
    assert refused.exit_code == 2


def test_a_release_goes_to_the_auto_environments_of_its_channel() -> None:
    loaded = inventory()

    def names(version: str, channel: str) -> list[str]:
        return [e.name for e in auto_environments(loaded, version, channel)]

    assert names("1.2.3", "stable") == ["dev", "container-dev"]
    assert names("1.3.0-nightly.20261122.103005", "nightly") == ["dev", "container-dev"]
    only_stable = loaded.model_copy(
        update={
            "environments": [
                e.model_copy(update={"channels": ["stable"]}) if e.name == "dev" else e
                for e in loaded.environments
            ]
        }
    )
    nightly = auto_environments(only_stable, "1.3.0-nightly.20261122.103005", "nightly")
    assert [e.name for e in nightly] == ["container-dev"]
