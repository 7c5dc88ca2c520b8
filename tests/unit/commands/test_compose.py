"""Compose environments: their commands are exact strings, a host's answer is parsed warily."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.commands import compose
from orchestrator.commands.compose import ComposeTarget, ImageSlot, Pull
from orchestrator.commands.deploy import MARK, HostFiles
from orchestrator.config.inventory import Inventory, parse_inventory
from orchestrator.deploy.compose import parse_state, release_of_tag
from orchestrator.deploy.payload import Compose, payload_of
from orchestrator.deploy.records import Record
from orchestrator.errors import InventoryError

ROOT = Path(__file__).resolve().parents[3]
FILES = HostFiles(tool="relorch", project="hello")
REFERENCE = "127.79.0.1:5000/hello"
VARIABLE = ComposeTarget("/srv/hello", (ImageSlot(REFERENCE, ("hello",), "HELLO_TAG"),))
OVERRIDE = ComposeTarget(
    "/srv/hello", (ImageSlot(REFERENCE, ("web", "worker")),), "compose.override.yaml"
)
EXPECTED = {"hello": REFERENCE}


def inventory(*, arches: tuple[str, ...] = ("amd64", "arm64"), **environment: Any) -> Inventory:
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    data["targets"] = [t for t in data["targets"] if t["format"] != "image" or t["arch"] in arches]
    data["environments"] = [
        {
            "name": "web", "kind": "compose", "version": "*",
            "hosts": [{"name": "web-1", "address": "127.78.0.91", "host_key": "sandbox"}],
            "compose": {"image": "hello", "directory": "/srv/hello", "services": ["hello"],
                        "tag_variable": "HELLO_TAG"},
        } | environment
    ]  # fmt: skip
    return parse_inventory(yaml.safe_dump(data), Path("inv.yaml"))


def test_a_compose_environment_reads_and_pulls_from_the_registry() -> None:
    loaded = inventory()
    payload = payload_of(loaded, loaded.environment("web"))
    assert isinstance(payload, Compose)
    assert payload.reference == REFERENCE
    assert payload.components == payload.units == ("hello",)
    assert not payload.uses_sources


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"compose": None}, "kind: compose needs 'compose'"),
        ({"packages": ["hello"]}, "drop 'packages', 'units' and 'channels'"),
        ({"units": ["hello.service"]}, "drop 'packages', 'units' and 'channels'"),
        ({"channels": ["stable"]}, "drop 'packages', 'units' and 'channels'"),
        ({"arch": "arm64", "arches": ("amd64",)}, "is built for amd64, not arm64"),
        ({"kind": "packages"}, "'compose' is for kind: compose"),
        ({"compose": {"image": "other", "directory": "/srv/x", "services": ["x"], "tag_variable": "T"}},
         "'other' is not built by any image target"),
        ({"compose": {"image": "hello", "directory": "/srv/../etc", "services": ["x"], "tag_variable": "T"}},
         "plain absolute path"),
        ({"compose": {"image": "hello", "directory": "srv", "services": ["x"], "tag_variable": "T"}},
         "should match pattern"),
        ({"compose": {"image": "hello", "directory": "/srv/x", "services": ["x;id"], "tag_variable": "T"}},
         "should match pattern"),
        ({"compose": {"image": "hello", "directory": "/srv/x", "services": ["x", "x"], "tag_variable": "T"}},
         "listed twice"),
        ({"compose": {"image": "hello", "directory": "/srv/x", "services": ["x"]}},
         "exactly one of 'tag_variable' and 'override_file'"),
        ({"compose": {"image": "hello", "directory": "/srv/x", "services": ["x"], "tag_variable": "T",
                      "override_file": "compose.override.yaml"}},
         "exactly one of 'tag_variable' and 'override_file'"),
        ({"compose": {"image": "hello", "directory": "/srv/x", "services": ["x"],
                      "override_file": "../../etc/cron.d/x"}},
         "Compose reads only"),
        ({"compose": {"image": "hello", "directory": "/srv/x", "services": ["x"], "tag_variable": "A=B"}},
         "should match pattern"),
        *(({"compose": {"image": "hello", "directory": "/srv/x", "services": ["x"], "tag_variable": name}},
           "read by Compose or the shell") for name in ("COMPOSE_FILE", "DOCKER_HOST", "PATH", "LD_PRELOAD")),
        *(({"compose": {"image": "hello", "directory": path, "services": ["x"], "tag_variable": "T"}},
           "system or shared directory") for path in ("/tmp", "/tmp/x", "/etc/app", "/var/tmp/p")),
        ({"compose": {"image": "hello", "directory": "/", "services": ["x"], "tag_variable": "T"}},
         "should match pattern"),
        ({"compose": {"image": "hello", "directory": "//", "services": ["x"], "tag_variable": "T"}},
         "plain absolute path"),
    ],
)  # fmt: skip
def test_compose_environments_are_checked(edit: dict[str, Any], message: str) -> None:
    with pytest.raises(InventoryError, match=re.escape(message)):
        inventory(**edit)


def test_a_compose_environment_needs_the_registry() -> None:
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    data.pop("registry")
    data["targets"] = [t for t in data["targets"] if t["format"] != "image"]
    data["environments"] = [
        {
            "name": "web", "kind": "compose", "version": "*",
            "hosts": [{"name": "web-1", "address": "127.78.0.91", "host_key": "sandbox"}],
            "compose": {"image": "hello", "directory": "/srv/hello", "services": ["hello"],
                        "tag_variable": "HELLO_TAG"},
        }
    ]  # fmt: skip
    with pytest.raises(InventoryError, match="pulls from the registry: add 'registry'"):
        parse_inventory(yaml.safe_dump(data), Path("inv.yaml"))


def test_only_semver_tags_are_releases() -> None:
    for tag in ("1.2.3", "1.3.0-rc.1", "0.0.1"):
        assert release_of_tag(tag) == tag
    for tag in ("latest", "1.2", "1", "v1.2.3", "1.2.3;id", "1.2.3\nx", "01.2.3", ""):
        assert release_of_tag(tag) is None


def test_the_host_answer_counts_only_the_projects_image() -> None:
    good = Record("t", "r", "web", "web-1", "deploy", "1.2.3", None, "deployed", "ci")
    output = (
        f"hello {REFERENCE}:1.2.3 sha256:aaa running\n"
        # Another service, another repository, a digest reference, too many fields:
        f"other {REFERENCE}:9.9.9 sha256:bbb running\n"
        f"hello {REFERENCE}:9.9.9 sha256:ccc running\n"
        f"{MARK}\n{MARK}\n{good.to_line()}\n"
    )
    state = parse_state("web-1", output, EXPECTED)
    assert state.components == {"hello": "1.2.3"}
    assert state.digests == {"hello": "sha256:aaa"}
    assert state.units == {"hello": "active"}
    assert state.version(("hello",)) == "1.2.3"
    assert state.settled("web", ("hello",), ("hello",), "1.2.3")
    for line in (
        "hello evil.example/hello:1.2.3 sha256:aaa running",
        f"hello {REFERENCE}@sha256:abc sha256:aaa running",
        f"hello {REFERENCE}:1.2.3 sha256:aaa running extra",
        f"hello {REFERENCE}x:1.2.3 sha256:aaa running",
    ):
        other = parse_state("web-1", f"{line}\n{MARK}\n{MARK}\n", EXPECTED)
        assert other.components == {}, line
    stopped = parse_state(
        "web-1", f"hello {REFERENCE}:1.2.3 sha256:aaa restarting\n{MARK}\n{MARK}\n", EXPECTED
    )
    assert stopped.units == {"hello": "restarting"}
    assert not stopped.settled("web", ("hello",), ("hello",), "1.2.3")
    with pytest.raises(Exception, match="cannot parse the answer to the inspection"):
        parse_state("web-1", "garbage", EXPECTED)


FAKE_DOCKER = """#!/bin/sh
# A stand-in for Docker and Compose: it records each call and answers from files.
echo "$(basename "$0") $*" >> calls
case "$(basename "$0") $1" in
  "docker compose") exit 1 ;;
  "docker image") cat pulled-id 2>/dev/null ;;
  "docker inspect") cat running 2>/dev/null ;;
  "docker-compose ps") [ -e fail-ps ] && exit 1; cat container 2>/dev/null ;;
  "docker-compose pull") [ -e "fail-pull-$3" ] && exit 1 ;;
  "docker-compose up") [ -e "fail-up-$4" ] && exit 1; echo abc > container ;;
esac
exit 0
"""


def _sh(command: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """Run a host command in ``directory`` (the project, its state beside it), Docker faked."""
    bin_dir = directory.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("docker", "docker-compose"):
        (bin_dir / tool).write_text(FAKE_DOCKER)
        (bin_dir / tool).chmod(0o755)
    local = command.replace("/srv/hello", str(directory)).replace(
        "/var/lib/relorch", str(directory.parent / "state")
    )
    return subprocess.run(
        ["sh", "-c", local], capture_output=True, text=True, cwd=directory,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, check=False,
    )  # fmt: skip


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pulled-id").write_text("sha256:new\n")
    (project / "running").write_text("sha256:new running\n")
    return project


IDS = ("sha256:new", "sha256:manifest")


def _put(project: ComposeTarget, tag: str = "1.2.3") -> str:
    return compose.put(project, FILES, "web", [Pull(project.slots[0], tag, IDS)])


def test_a_deploy_sets_the_tag_keeping_the_rest_of_env_and_a_revert_restores_it(
    tmp_path: Path,
) -> None:
    directory = _project(tmp_path)
    env = directory / ".env"
    before = b"SECRET=s3cret\nexport HELLO_TAG = 1.2.2\nHELLO_TAG_OTHER=x\nBIN=a\x00b\n"
    env.write_bytes(before)
    env.chmod(0o640)
    os.chown(env, 65534, 65534)
    (directory / "container").write_text("abc\n")
    done = _sh(_put(VARIABLE), directory)
    assert done.returncode == 0, done.stderr
    assert env.read_bytes() == b"SECRET=s3cret\nHELLO_TAG_OTHER=x\nBIN=a\x00b\nHELLO_TAG=1.2.3\n"
    assert (env.stat().st_mode & 0o777, env.stat().st_uid) == (0o640, 65534)
    calls = (directory / "calls").read_text().splitlines()
    assert "docker-compose pull -q hello" in calls
    assert calls.index("docker-compose pull -q hello") < calls.index(
        "docker-compose up -d --no-deps hello"
    )
    assert not list(directory.glob(".relorch*"))
    # Going back: the very file it was, and the container up again without a pull.
    (directory / "calls").unlink()
    back = _sh(compose.revert(VARIABLE, FILES, "web"), directory)
    assert back.returncode == 0, back.stderr
    assert env.read_bytes() == before and env.stat().st_uid == 65534
    assert (directory / "calls").read_text().splitlines() == [
        "docker compose version",
        "docker-compose up -d --no-deps hello",
    ]
    saved = tmp_path / "state" / "compose" / "web"
    assert saved.stat().st_mode & 0o777 == 0o700
    assert _sh(compose.forget(FILES, "web"), directory).returncode == 0
    assert not saved.exists()


def test_a_revert_where_nothing_ran_removes_the_containers_and_the_file(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    assert _sh(_put(OVERRIDE), directory).returncode == 0
    override = directory / "compose.override.yaml"
    assert override.read_text().startswith(compose.OVERRIDE_HEADER)
    assert f'image: "{REFERENCE}:1.2.3"' in override.read_text()
    back = _sh(compose.revert(OVERRIDE, FILES, "web"), directory)
    assert back.returncode == 0, back.stderr
    assert not override.exists()
    calls = (directory / "calls").read_text().splitlines()
    assert calls[-2:] == ["docker-compose rm -s -f web", "docker-compose rm -s -f worker"]


def test_a_link_or_a_file_the_deploy_did_not_write_is_never_written(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("root's\n")
    victim.chmod(0o600)
    (directory / ".env").symlink_to(victim)
    # A name planted where an older deploy wrote its temporary file.
    (directory / ".relorch-new").symlink_to(victim)
    refused = _sh(_put(VARIABLE), directory)
    assert refused.returncode == compose.REFUSED and "symbolic link" in refused.stderr
    assert victim.read_text() == "root's\n" and victim.stat().st_mode & 0o777 == 0o600
    (directory / ".env").unlink()
    (directory / ".env").write_text("A=1\n")
    assert _sh(_put(VARIABLE), directory).returncode == 0
    assert victim.read_text() == "root's\n"
    admins = directory / "compose.override.yaml"
    admins.write_text("services:\n  web:\n    ports: ['8080:8080']\n")
    refused = _sh(_put(OVERRIDE), directory)
    assert refused.returncode == compose.REFUSED and "did not write it" in refused.stderr
    assert admins.read_text() == "services:\n  web:\n    ports: ['8080:8080']\n"
    # Refused before anything changed: going back has nothing to do, and does nothing.
    back = _sh(compose.revert(OVERRIDE, FILES, "web"), directory)
    assert back.returncode == 0 and "nothing to put back" in back.stdout
    assert admins.exists() and "rm -s -f" not in (directory / "calls").read_text()


def test_a_failure_to_read_the_containers_fails_the_put_before_any_change(
    tmp_path: Path,
) -> None:
    directory = _project(tmp_path)
    (directory / ".env").write_text("HELLO_TAG=1.2.2\n")
    (directory / "container").write_text("abc\n")
    (directory / "fail-ps").touch()
    failed = _sh(_put(VARIABLE), directory)
    assert failed.returncode != 0
    assert (directory / ".env").read_text() == "HELLO_TAG=1.2.2\n"
    (directory / "fail-ps").unlink()
    back = _sh(compose.revert(VARIABLE, FILES, "web"), directory)
    assert back.returncode == 0 and "rm -s -f" not in (directory / "calls").read_text()


def test_a_revert_that_cannot_bring_a_service_back_fails(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    (directory / "container").write_text("abc\n")
    assert _sh(_put(OVERRIDE), directory).returncode == 0
    for name in ("fail-up-web", "fail-pull-web"):
        (directory / name).touch()
    back = _sh(compose.revert(OVERRIDE, FILES, "web"), directory)
    assert back.returncode != 0, back.stdout


def test_an_image_named_by_its_manifest_digest_is_the_same_image(tmp_path: Path) -> None:
    # The containerd image store calls an image by its manifest's digest.
    directory = _project(tmp_path)
    (directory / "pulled-id").write_text("sha256:manifest\n")
    (directory / "running").write_text("sha256:manifest running\n")
    done = _sh(_put(VARIABLE), directory)
    assert done.returncode == 0, done.stderr
    # Each answer is asked for once, however many ids it is compared with.
    calls = (directory / "calls").read_text().splitlines()
    assert sum(call.startswith("docker image inspect") for call in calls) == 1
    assert sum(call.startswith("docker inspect") for call in calls) == 1


def test_a_tag_that_moved_or_a_container_on_another_image_fails_the_deploy(
    tmp_path: Path,
) -> None:
    directory = _project(tmp_path)
    (directory / "pulled-id").write_text("sha256:other\n")
    moved = _sh(_put(VARIABLE), directory)
    assert moved.returncode == compose.MOVED and "another image" in moved.stderr
    assert "up -d" not in (directory / "calls").read_text()
    (directory / "pulled-id").write_text("sha256:new\n")
    (directory / "container").write_text("abc\n")
    (directory / "running").write_text("sha256:old running\n")
    stale = _sh(_put(VARIABLE), directory)
    assert stale.returncode == compose.NOT_RUNNING and "does not run" in stale.stderr


def test_service_names_stay_names_in_the_override_file() -> None:
    project = ComposeTarget(
        "/srv/hello", (ImageSlot(REFERENCE, ("null", "true")),), "compose.override.yaml"
    )
    command = _put(project)
    text = command.split("printf '%s' ", 1)[1].split(" > ", 1)[0]
    document = yaml.safe_load(shlex.split(text)[0])
    assert set(document["services"]) == {"null", "true"}


def test_the_inspection_reads_what_the_host_runs(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        "#!/bin/sh\n"
        'case "$1" in compose) exit 1 ;; inspect) echo "127.79.0.1:5000/hello:1.2.3 sha256:aaa running" ;; esac\n'
    )
    (bin_dir / "docker-compose").write_text('#!/bin/sh\n[ "$1" = ps ] && echo abc123\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    command = compose.inspect(FILES, VARIABLE).replace("/srv/hello", str(tmp_path))
    done = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    state = parse_state("web-1", done.stdout, EXPECTED)
    assert state.components == {"hello": "1.2.3"} and state.units == {"hello": "active"}


CACHE = "127.79.0.1:5000/vendor/cache"
SET_VARIABLES = ComposeTarget(
    "/srv/hello",
    (ImageSlot(REFERENCE, ("hello",), "HELLO_TAG"), ImageSlot(CACHE, ("cache",), "CACHE_TAG")),
)
SET_OVERRIDE = ComposeTarget(
    "/srv/hello",
    (ImageSlot(REFERENCE, ("web", "worker")), ImageSlot(CACHE, ("cache",))),
    "compose.override.yaml",
)


def _put_set(project: ComposeTarget) -> str:
    tags = ("1.2.3", "1.5.0")
    pulls = [Pull(slot, tag, IDS) for slot, tag in zip(project.slots, tags, strict=True)]
    return compose.put(project, FILES, "web", pulls)


def test_a_set_sets_every_tag_at_once_and_goes_back_as_one(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    env = directory / ".env"
    before = b"A=1\nHELLO_TAG=1.2.2\nCACHE_TAG=1.4.0\n"
    env.write_bytes(before)
    (directory / "container").write_text("abc\n")
    done = _sh(_put_set(SET_VARIABLES), directory)
    assert done.returncode == 0, done.stderr
    assert env.read_text().splitlines() == ["A=1", "HELLO_TAG=1.2.3", "CACHE_TAG=1.5.0"]
    calls = (directory / "calls").read_text().splitlines()
    assert "docker-compose pull -q hello cache" in calls
    assert "docker-compose up -d --no-deps hello cache" in calls
    # Each image is checked after the pull, each container after the up.
    assert sum(call.startswith("docker image inspect") for call in calls) == 2
    back = _sh(compose.revert(SET_VARIABLES, FILES, "web"), directory)
    assert back.returncode == 0, back.stderr
    assert env.read_bytes() == before


def test_a_sets_override_file_names_each_services_image() -> None:
    command = _put_set(SET_OVERRIDE)
    text = command.split("printf '%s' ", 1)[1].split(" > ", 1)[0]
    document = yaml.safe_load(shlex.split(text)[0])
    assert document["services"] == {
        "web": {"image": f"{REFERENCE}:1.2.3"},
        "worker": {"image": f"{REFERENCE}:1.2.3"},
        "cache": {"image": f"{CACHE}:1.5.0"},
    }
