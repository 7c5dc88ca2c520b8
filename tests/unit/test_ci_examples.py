"""The CI examples in examples/ci: parsed, and their tag checks exercised on real tags."""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"
GITLAB = CI / ".gitlab-ci.yml"
GITHUB = CI / "github-release.yml"

RELEASE_TAGS = ["v1.2.3", "v1.3.0-rc.1", "v10.20.30", "v2.0.0-beta.2-fix"]
NOT_RELEASE_TAGS = [
    "v1.2",
    "1.2.3",
    "v1.2.3; rm",
    "v1.2.3;rm -rf /",
    "v1.2.3.4",
    "v1.2.3-",
    "xv1.2.3",
]
SECRETS = [
    "DIGITALOCEAN_ACCESS_TOKEN",
    "ORCHESTRATOR_SIGNING_KEY",
    "ORCHESTRATOR_SIGNING_PASSPHRASE",
    "SPACES_KEY",
    "SPACES_SECRET",
    "REPO_DEPLOY_SSH_KEY",
    "REGISTRY_USERNAME",
    "REGISTRY_PASSWORD",
]


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def comments(path: Path) -> str:
    return "\n".join(
        line for line in path.read_text().splitlines() if line.lstrip().startswith("#")
    )


def gitlab_tag_regex(rule: dict[str, Any]) -> str:
    match = re.fullmatch(r"\$CI_COMMIT_TAG =~ /(.+)/", rule["if"])
    assert match, rule
    return match.group(1)


def github_steps() -> list[dict[str, Any]]:
    steps = load(GITHUB)["jobs"]["release"]["steps"]
    assert isinstance(steps, list)
    return steps


def step(name: str) -> dict[str, Any]:
    (found,) = [s for s in github_steps() if s.get("name") == name]
    return found


def accepted(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return [tag for tag in RELEASE_TAGS + NOT_RELEASE_TAGS if regex.search(tag)]


# GitLab


def test_gitlab_release_runs_only_on_anchored_release_tags() -> None:
    (rule,) = load(GITLAB)["release"]["rules"]
    pattern = gitlab_tag_regex(rule)
    assert pattern.startswith("^") and pattern.endswith("$")
    assert accepted(pattern) == RELEASE_TAGS


def test_gitlab_release_is_serialised_and_keeps_its_report() -> None:
    job = load(GITLAB)["release"]
    assert job["resource_group"] == "release"
    script = "\n".join(job["script"])
    assert (
        'invoke release --tag "$CI_COMMIT_TAG" --inventory "$INVENTORY" --verify --json'
        " > release.json"
    ) in script
    assert load(GITLAB)["variables"]["INVENTORY"] == "inventory/production.yaml"
    assert job["artifacts"]["when"] == "always"
    assert {"release.json", "reports/"} <= set(job["artifacts"]["paths"])


def test_gitlab_teardown_always_runs_after_the_release() -> None:
    data = load(GITLAB)
    job = data["teardown"]
    stages = data["stages"]
    assert stages.index(job["stage"]) > stages.index(data["release"]["stage"])
    (rule,) = job["rules"]
    assert rule["when"] == "always"
    assert gitlab_tag_regex(rule) == gitlab_tag_regex(data["release"]["rules"][0])
    script = "\n".join(job["script"])
    assert 'invoke teardown --run-id "$run_id"' in script
    assert "invoke teardown --older-than 120" in "\n".join(data["sweep"]["script"])


def test_gitlab_lists_its_variables() -> None:
    text = comments(GITLAB)
    for name in SECRETS:
        assert name in text
    assert re.search(r"DIGITALOCEAN_ACCESS_TOKEN\s+Masked", text)


# GitHub Actions


def test_github_workflow_runs_on_version_tags_one_at_a_time() -> None:
    data = load(GITHUB)
    # YAML 1.1 reads the bare key `on` as the boolean true.
    trigger = data.get("on", data.get(True))
    assert trigger == {"push": {"tags": ["v*.*.*"]}}
    assert data["concurrency"] == {"group": "release", "cancel-in-progress": False}


def test_github_tag_check_is_the_same_anchored_rule() -> None:
    check = github_steps()[0]
    assert check["name"] == "Check the tag"
    match = re.search(r"pattern='([^']+)'", check["run"])
    assert match
    assert "[[ ! $GITHUB_REF_NAME =~ $pattern ]]" in check["run"]
    assert accepted(match.group(1)) == RELEASE_TAGS
    (rule,) = load(GITLAB)["release"]["rules"]
    assert accepted(match.group(1)) == accepted(gitlab_tag_regex(rule))


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_github_tag_check_step_passes_and_fails_in_bash() -> None:
    # Bash regexes are POSIX ERE, not Python's: run the step itself.
    script = step("Check the tag")["run"]
    results = {}
    for tag in RELEASE_TAGS + NOT_RELEASE_TAGS:
        env = {"PATH": os.environ["PATH"], "GITHUB_REF_NAME": tag}
        process = subprocess.run(
            ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, check=False
        )
        results[tag] = process.returncode
    assert [tag for tag, code in results.items() if code == 0] == RELEASE_TAGS


def test_github_release_step_gets_its_secrets_through_env() -> None:
    release = step("Release")
    assert (
        'invoke release --tag "$GITHUB_REF_NAME" --inventory "$INVENTORY" --verify --json'
        " > release.json"
    ) in release["run"]
    assert release["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in SECRETS}
    # Expressions pasted into scripts are a shell-injection path; variables are not.
    assert all("${{" not in s.get("run", "") for s in github_steps())
    assert load(GITHUB)["env"]["INVENTORY"] == "inventory/production.yaml"


def test_github_uploads_the_report_and_always_tears_down() -> None:
    names = [s.get("name") for s in github_steps()]
    upload, teardown = step("Upload the report"), step("Tear down")
    assert names.index("Release") < names.index("Upload the report") < names.index("Tear down")
    assert upload["if"] == "always()"
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert {"release.json", "reports/"} <= set(upload["with"]["path"].split())
    assert teardown["if"].startswith("always()")
    assert 'invoke teardown --run-id "$run_id"' in teardown["run"]
    assert teardown["env"] == {
        "DIGITALOCEAN_ACCESS_TOKEN": "${{ secrets.DIGITALOCEAN_ACCESS_TOKEN }}"
    }


def test_github_lists_its_secrets() -> None:
    text = comments(GITHUB)
    for name in SECRETS:
        assert re.search(rf"^#\s+{name}\s", text, re.MULTILINE), name


def test_gitlab_promotions_are_manual_protected_and_serialised() -> None:
    data = load(GITLAB)
    for job, environment in (("deploy:staging", "staging"), ("deploy:prod", "prod")):
        merged = {**data[".promote"], **data[job]}
        assert merged["environment"]["name"] == environment
        assert merged["resource_group"] == f"deploy-{environment}"
        assert merged["rules"][0]["when"] == "manual"
        assert 'invoke promote --to "$CI_ENVIRONMENT_NAME"' in merged["script"][0]
    assert "deploy:staging" in data["deploy:prod"]["needs"]


def test_github_promotion_runs_in_the_chosen_environment_one_at_a_time() -> None:
    data = load(CI / "github-promote.yml")
    job = data["jobs"]["promote"]
    assert job["environment"] == "${{ inputs.to }}"
    assert data["concurrency"] == {"group": "deploy-${{ inputs.to }}", "cancel-in-progress": False}
    run = next(step for step in job["steps"] if step.get("name") == "Promote")
    assert "${{" not in run["run"]  # inputs reach the script through env only
