"""The files relorch init writes: an inventory the real loader takes, CI files using relorch."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config.inventory import parse_inventory
from orchestrator.errors import UsageError
from orchestrator.starter.render import Starter, ci_choice, starter_files, yaml_string

RELEASE_SECRETS = {
    "DIGITALOCEAN_ACCESS_TOKEN",
    "ORCHESTRATOR_SIGNING_KEY",
    "ORCHESTRATOR_SIGNING_PASSPHRASE",
    "SPACES_KEY",
    "SPACES_SECRET",
}
RELEASE_TAGS = ["v1.2.3", "v1.3.0-rc.1", "v10.20.30"]
NOT_RELEASE_TAGS = ["v1.2", "1.2.3", "v1.2.3;rm -rf /", "v1.2.3.4", "v1.2.3-", "xv1.2.3"]
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyReplaceWithYourServersKeyxxxxxxxxxxxx"


def inventory_text(project: str = "hello") -> str:
    return starter_files(Starter(project, "1.2.3"))["relorch.yaml"]


def ci_file(ci: str) -> dict[Any, Any]:
    files = starter_files(Starter("hello", "1.2.3", ci))
    (text,) = [text for path, text in files.items() if path != "relorch.yaml"]
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("project", ["hello", "a.b+c", "9lives", "x" * 100])
def test_the_inventory_loads_with_the_real_loader(project: str, tmp_path: Path) -> None:
    inventory = parse_inventory(inventory_text(project), tmp_path / "relorch.yaml")
    assert inventory.project.name == project
    assert inventory.project.source == tmp_path
    assert inventory.workspace == tmp_path
    assert inventory.cloud.provider == "digitalocean"
    assert not inventory.uses_sandbox and inventory.cloud.api_endpoint is None
    assert inventory.signing.key_env == "ORCHESTRATOR_SIGNING_KEY"
    assert not inventory.signing.sandbox_key
    (spaces,) = inventory.publish
    assert spaces.kind == "s3"
    assert spaces.url.startswith(f"https://{spaces.bucket}.")
    assert [t.format for t in inventory.targets] == ["deb", "rpm"]
    assert inventory.registry is None and inventory.environments == []


def uncommented(text: str) -> str:
    """The inventory with every commented-out key written in (a host key filled in)."""
    body = text[text.index("\nproject:") :]
    lines = []
    for line in body.splitlines():
        key = re.fullmatch(r"(\s*)#\s(\s*(?:- )?[a-z_]+:(?: .*)?)", line)
        # A GnuPG home and an api_endpoint are alternatives to what is set, not additions.
        if key and not re.search(r"fingerprint|gnupghome|identity_file|api_endpoint", line):
            line = (key[1] + key[2]).replace("ssh-ed25519 AAAA...", HOST_KEY)
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_every_commented_out_example_loads_once_written_in(tmp_path: Path) -> None:
    inventory = parse_inventory(uncommented(inventory_text()), tmp_path / "relorch.yaml")
    assert [t.name for t in inventory.targets] == [
        "amd64-deb",
        "amd64-rpm",
        "arm64-deb",
        "amd64-image",
    ]
    assert inventory.registry is not None
    assert inventory.tests is not None and inventory.tests.commands[-1] == "make test"
    assert [p.kind for p in inventory.publish] == ["s3", "ssh"]
    assert [e.name for e in inventory.environments] == ["staging"]
    assert [n.name for n in inventory.notify] == ["release-channel"]
    assert inventory.signing.public_key == tmp_path / "hello-signing-key.asc"


def test_the_header_names_the_secrets_and_the_next_commands() -> None:
    header = inventory_text().split("\nproject:")[0]
    for name in [*RELEASE_SECRETS, "REGISTRY_USERNAME", "REGISTRY_PASSWORD"]:
        assert name in header
    for command in (
        "relorch inventory.check",
        "relorch cloud.check",
        "relorch release --tag v0.1.0",
    ):
        assert command in header


def test_every_key_is_commented() -> None:
    text = inventory_text()
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*(- )?[a-z_]+:", line):
            before = lines[number - 1] if number else ""
            assert "#" in line or before.lstrip().startswith("#"), line


@pytest.mark.parametrize(
    "hostile",
    [
        'x"\nname: evil',
        "x\n  maintainer: evil\ncloud: {provider: static}",
        "x # comment",
        "x\u2028y\x85z\x7f",
        "{{ 7 * 7 }}",
        "x: y",
    ],
)
def test_a_hostile_name_stays_one_yaml_string(hostile: str) -> None:
    # starter_files gets a checked package name; this is the quoting behind that check.
    data = yaml.safe_load(inventory_text(hostile))
    assert data["project"]["name"] == hostile
    assert data["cloud"]["provider"] == "digitalocean"


def test_the_templates_print_strings_only() -> None:
    assert yaml_string("a\"b'c") == '"a\\"b\'c"'
    with pytest.raises(TypeError):
        yaml_string(3)


def test_the_ci_choice_is_checked() -> None:
    assert ci_choice(None) is None
    assert ci_choice("github") == "github"
    with pytest.raises(UsageError, match="--ci takes gitlab or github, got 'jenkins'"):
        ci_choice("jenkins")


def test_which_files_each_choice_writes() -> None:
    assert list(starter_files(Starter("hello", "1.2.3"))) == ["relorch.yaml"]
    assert list(starter_files(Starter("hello", "1.2.3", "gitlab"))) == [
        "relorch.yaml",
        ".gitlab-ci.yml",
    ]
    assert list(starter_files(Starter("hello", "1.2.3", "github"))) == [
        "relorch.yaml",
        ".github/workflows/release.yml",
    ]


# GitLab


def test_gitlab_pins_the_running_orchestrator_and_installs_it() -> None:
    data = ci_file("gitlab")
    assert data["variables"]["ORCHESTRATOR_PACKAGE"] == "release-orchestrator==1.2.3"
    assert 'pip install -q "$ORCHESTRATOR_PACKAGE"' in data[".relorch"]["before_script"]


def test_gitlab_releases_with_relorch_and_relorch_yaml() -> None:
    data = ci_file("gitlab")
    job = data["release"]
    script = "\n".join(job["script"])
    assert 'relorch release --tag "$CI_COMMIT_TAG" --verify --json > release.json' in script
    assert job["resource_group"] == "release"
    assert job["artifacts"]["when"] == "always"
    assert {"release.json", "reports/", "logs/"} <= set(job["artifacts"]["paths"])
    pattern = re.fullmatch(r"\$CI_COMMIT_TAG =~ /(.+)/", job["rules"][0]["if"])
    assert pattern
    assert [t for t in RELEASE_TAGS + NOT_RELEASE_TAGS if re.search(pattern[1], t)] == RELEASE_TAGS


def test_gitlab_always_tears_down() -> None:
    data = ci_file("gitlab")
    teardown = data["teardown"]
    assert teardown["rules"][0]["when"] == "always"
    assert data["stages"].index(teardown["stage"]) > data["stages"].index("release")
    assert 'relorch teardown --run-id "$run_id"' in "\n".join(teardown["script"])
    assert data["sweep"]["script"] == ["relorch teardown --older-than 120"]


def test_gitlab_lists_exactly_the_variables_its_jobs_use() -> None:
    text = starter_files(Starter("hello", "1.2.3", "gitlab"))[".gitlab-ci.yml"]
    listed = set(re.findall(r"^#   ([A-Z][A-Z_]+)\s", text, re.MULTILINE))
    assert listed == RELEASE_SECRETS


# GitHub Actions


def github_steps() -> list[dict[str, Any]]:
    steps = ci_file("github")["jobs"]["release"]["steps"]
    assert isinstance(steps, list)
    return steps


def github_step(name: str) -> dict[str, Any]:
    (found,) = [step for step in github_steps() if step.get("name") == name]
    return found


def test_github_pins_the_running_orchestrator_and_runs_on_tags_one_at_a_time() -> None:
    data = ci_file("github")
    assert data["env"] == {"ORCHESTRATOR_PACKAGE": "release-orchestrator==1.2.3"}
    assert data.get("on", data.get(True)) == {"push": {"tags": ["v*.*.*"]}}
    assert data["concurrency"] == {"group": "release", "cancel-in-progress": False}
    assert 'pip install -q "$ORCHESTRATOR_PACKAGE"' in github_step("Install relorch")["run"]


def test_github_gives_each_step_exactly_the_secrets_it_uses() -> None:
    release = github_step("Release")
    assert (
        release["run"] == 'relorch release --tag "$GITHUB_REF_NAME" --verify --json > release.json'
    )
    assert release["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in RELEASE_SECRETS}
    teardown = github_step("Tear down")
    assert teardown["env"] == {
        "DIGITALOCEAN_ACCESS_TOKEN": "${{ secrets.DIGITALOCEAN_ACCESS_TOKEN }}"
    }
    assert [s["name"] for s in github_steps() if "env" in s] == ["Release", "Tear down"]
    # Expressions pasted into scripts are a shell-injection path; variables are not.
    assert all("${{" not in step.get("run", "") for step in github_steps())


def test_github_uploads_the_report_and_always_tears_down() -> None:
    names = [step.get("name") for step in github_steps()]
    assert names.index("Release") < names.index("Upload the report") < names.index("Tear down")
    assert github_step("Upload the report")["if"] == "always()"
    teardown = github_step("Tear down")
    assert teardown["if"].startswith("always()")
    assert 'relorch teardown --run-id "$run_id"' in teardown["run"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_github_tag_check_passes_release_tags_only() -> None:
    script = github_step("Check the tag")["run"]
    passed = []
    for tag in RELEASE_TAGS + NOT_RELEASE_TAGS:
        env = {"PATH": os.environ["PATH"], "GITHUB_REF_NAME": tag}
        run = subprocess.run(
            ["bash", "-e", "-c", script], env=env, capture_output=True, check=False
        )
        if run.returncode == 0:
            passed.append(tag)
    assert passed == RELEASE_TAGS


def test_no_ci_file_calls_invoke_or_names_another_inventory() -> None:
    for ci in ("gitlab", "github"):
        text = starter_files(Starter("hello", "1.2.3", ci))
        for path, content in text.items():
            if path != "relorch.yaml":
                assert "invoke" not in content and "--inventory" not in content
