"""Compose environments: their commands are exact strings, a host's answer is parsed warily."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.deploy import compose
from orchestrator.deploy.commands import MARK, HostFiles
from orchestrator.deploy.environments import ComposeProject
from orchestrator.deploy.payload import Compose
from orchestrator.deploy.records import Record
from orchestrator.errors import InventoryError
from orchestrator.inventory import Inventory, parse_inventory

ROOT = Path(__file__).resolve().parents[3]
FILES = HostFiles(tool="relorch", project="hello")
REFERENCE = "127.79.0.1:5000/hello"
VARIABLE = ComposeProject(
    image="hello", directory="/srv/hello", services=["hello"], tag_variable="HELLO_TAG"
)
OVERRIDE = ComposeProject(
    image="hello", directory="/srv/hello", services=["web", "worker"],
    override_file="compose.override.yaml",
)  # fmt: skip


def inventory(**environment: Any) -> Inventory:
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
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
    payload = inventory().payload(inventory().environment("web"))
    assert isinstance(payload, Compose)
    assert payload.reference == REFERENCE
    assert payload.components == payload.units == ("hello",)
    assert not payload.uses_sources


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"compose": None}, "kind: compose needs 'compose'"),
        ({"packages": ["hello"]}, "drop 'packages' and 'units'"),
        ({"units": ["hello.service"]}, "drop 'packages' and 'units'"),
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
        assert compose.release_of_tag(tag) == tag
    for tag in ("latest", "1.2", "1", "v1.2.3", "1.2.3;id", "1.2.3\nx", "01.2.3", ""):
        assert compose.release_of_tag(tag) is None


def test_the_host_answer_counts_only_the_projects_image() -> None:
    good = Record("t", "r", "web", "web-1", "deploy", "1.2.3", None, "deployed", "ci")
    output = (
        f"hello {REFERENCE}:1.2.3 sha256:aaa running\n"
        # Another service, another repository, a digest reference, too many fields:
        f"other {REFERENCE}:9.9.9 sha256:bbb running\n"
        f"hello {REFERENCE}:9.9.9 sha256:ccc running\n"
        f"{MARK}\n{MARK}\n{good.to_line()}\n"
    )
    state = compose.parse_state("web-1", output, VARIABLE, REFERENCE)
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
        other = compose.parse_state("web-1", f"{line}\n{MARK}\n{MARK}\n", VARIABLE, REFERENCE)
        assert other.components == {}, line
    stopped = compose.parse_state(
        "web-1", f"hello {REFERENCE}:1.2.3 sha256:aaa restarting\n{MARK}\n{MARK}\n", VARIABLE,
        REFERENCE,
    )  # fmt: skip
    assert stopped.units == {"hello": "restarting"}
    assert not stopped.settled("web", ("hello",), ("hello",), "1.2.3")
    with pytest.raises(Exception, match="unexpected answer"):
        compose.parse_state("web-1", "garbage", VARIABLE, REFERENCE)


def test_commands_quote_every_value() -> None:
    assert compose.put(VARIABLE, REFERENCE, "1.2.3") == (
        "if docker compose version >/dev/null 2>&1; then dc='docker compose'; "
        "elif command -v docker-compose >/dev/null 2>&1; then dc=docker-compose; "
        "else echo 'this host has neither docker compose nor docker-compose' >&2; exit 3; fi; "
        "set -e; umask 077; cd /srv/hello; "
        "touch .env && cp -p .env .relorch-new && "
        "{ grep -v '^HELLO_TAG=' .env || true; printf '%s\\n' HELLO_TAG=1.2.3; } > .relorch-new "
        "&& mv -f .relorch-new .env; $dc pull -q hello; $dc up -d --no-deps hello"
    )
    put = compose.put(OVERRIDE, REFERENCE, "1.3.0-rc.1")
    assert (
        f'image: "{REFERENCE}:1.3.0-rc.1"' in put
        and "mv -f .relorch-new compose.override.yaml" in put
    )


def _sh(command: str, directory: Path) -> subprocess.CompletedProcess[str]:
    # The commands' own shell, with stand-ins for Docker and Compose that record calls.
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("docker", "docker-compose"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\n[ "$1" = compose ] && exit 1\necho "{tool} $*" >> calls\n')
        script.chmod(0o755)
    return subprocess.run(
        ["sh", "-c", command.replace("cd /srv/hello", f"cd {directory}")],
        capture_output=True, text=True, env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, check=False,
    )  # fmt: skip


def test_the_env_file_keeps_its_other_lines_and_its_mode(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("SECRET=s3cret\nHELLO_TAG=1.2.2\nHELLO_TAG_OTHER=x\n")
    env.chmod(0o600)
    done = _sh(compose.put(VARIABLE, REFERENCE, "1.2.3"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert env.read_text() == "SECRET=s3cret\nHELLO_TAG_OTHER=x\nHELLO_TAG=1.2.3\n"
    assert env.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "calls").read_text().splitlines() == [
        "docker-compose pull -q hello",
        "docker-compose up -d --no-deps hello",
    ]
    # Back to nothing: the variable goes, the containers are removed.
    done = _sh(compose.revert(VARIABLE, REFERENCE, {}), tmp_path)
    assert done.returncode == 0, done.stderr
    assert env.read_text() == "SECRET=s3cret\nHELLO_TAG_OTHER=x\n"
    assert (tmp_path / "calls").read_text().splitlines()[-1] == "docker-compose rm -s -f hello"


def test_a_revert_of_services_that_ran_different_tags_says_so(tmp_path: Path) -> None:
    command = compose.revert(OVERRIDE, REFERENCE, {"web": "1.2.2", "worker": "1.2.1"})
    done = _sh(command, tmp_path)
    assert done.returncode == 1 and "web: 1.2.2, worker: 1.2.1" in done.stderr
    back = _sh(compose.revert(OVERRIDE, REFERENCE, {"web": "1.2.2", "worker": "1.2.2"}), tmp_path)
    assert back.returncode == 0, back.stderr
    assert f'image: "{REFERENCE}:1.2.2"' in (tmp_path / "compose.override.yaml").read_text()


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
    state = compose.parse_state("web-1", done.stdout, VARIABLE, REFERENCE)
    assert state.components == {"hello": "1.2.3"} and state.units == {"hello": "active"}
