"""The CI examples in examples/ci: parsed, and their tag checks exercised on real tags."""

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config import credentials
from orchestrator.config.environments import Environment, TaggedHosts
from orchestrator.config.inventory import Inventory, PublishConfig, S3Publish, load_inventory

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"
GITLAB = CI / ".gitlab-ci.yml"
GITHUB = CI / "github-release.yml"
PROMOTE = CI / "github-promote.yml"
NIGHTLY = CI / "github-nightly.yml"

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
# The jobs run with inventory/production.yaml, a copy of the example inventory.
INVENTORY = load_inventory(ROOT / "inventory" / "digitalocean.example.yaml")
# SSH keys are not read from the environment: a job loads them into an ssh-agent, which the
# orchestrator uses for every host without an identity_file. The examples' variables:
REPO_SERVER_KEY = "REPO_DEPLOY_SSH_KEY"  # publish targets of kind ssh
HOSTS_KEY = "DEPLOY_SSH_KEY"  # the environments' hosts


# What each task reads, from the code: the names come from orchestrator.config.credentials and
# the inventory, the conditions from where the tasks call for them.


def webhooks(inventory: Inventory, event: str) -> set[str]:
    """The variables holding the URLs of the webhooks told of ``event`` (notify.py)."""
    return {hook.url_env for hook in inventory.notify if event in hook.events}


def chain(inventory: Inventory, name: str) -> list[Environment]:
    """An environment and every one it is promoted from: a deploy reads all their hosts
    (what failed upstream is never taken; a promotion takes what `from` runs)."""
    found = [inventory.environment(name)]
    while found[-1].upstream is not None:
        found.append(inventory.environment(found[-1].upstream))
    return found


def publish_reads(config: PublishConfig) -> set[str]:
    """What reaching a publish target reads: a bucket's keys, or a repo server's SSH key."""
    if isinstance(config, S3Publish):
        return {credentials.SPACES_KEY, credentials.SPACES_SECRET}
    return {REPO_SERVER_KEY} if config.identity_file is None else set()


def deploy_reads(inventory: Inventory, environments: list[Environment]) -> set[str]:
    """What deploying reads, for these environments (cli/wiring/deploy.py, deploy_seams)."""
    # The deploy ledger on the first publish target: read by every deploy and promotion,
    # written by a failed one (cli/wiring/deploy.py, _ledger).
    reads = publish_reads(inventory.publish[0]) if inventory.publish else set()
    for environment in environments:
        hosts = environment.hosts
        if isinstance(hosts, TaggedHosts):
            # Found by droplet tag: a droplet listing, with the DigitalOcean token.
            reads.add(credentials.DIGITALOCEAN_TOKEN)
            keyless = hosts.identity_file is None
        else:
            keyless = any(host.identity_file is None for host in hosts)
        if keyless:
            reads.add(HOSTS_KEY)
        if environment.compose is not None and inventory.registry is not None:
            # The registry's tags and the image, read with the orchestrator's login.
            reads |= {inventory.registry.username_env, inventory.registry.password_env}
    return reads


def release_reads(inventory: Inventory, target: str | None = None) -> set[str]:
    """`invoke release --verify`: droplets, signing, publishing, images, webhooks, auto deploys."""
    reads = webhooks(inventory, "release")
    if inventory.cloud.provider == "digitalocean" and inventory.cloud.sandbox is None:
        reads.add(credentials.DIGITALOCEAN_TOKEN)
    signing = inventory.signing
    if signing.fingerprint is None and not signing.sandbox_key:
        reads |= {signing.key_env, signing.passphrase_env}
    for config in inventory.publish:
        reads |= publish_reads(config)
    if inventory.registry is not None and not inventory.registry.sandbox:
        reads |= {inventory.registry.username_env, inventory.registry.password_env}
    index = inventory.python_index
    if (
        index is not None
        and not index.sandbox
        and any(t.python_artifacts for t in inventory.targets)
    ):
        reads.add(index.token_env)
    for environment in inventory.environments:
        if environment.auto:
            reads |= deploy_reads(inventory, chain(inventory, environment.name))
            reads |= webhooks(inventory, "deploy")
    return reads


def teardown_reads(inventory: Inventory, target: str | None = None) -> set[str]:
    """`invoke teardown`: the tool's droplets, by tag."""
    if inventory.cloud.provider == "digitalocean" and inventory.cloud.sandbox is None:
        return {credentials.DIGITALOCEAN_TOKEN}
    return set()


def promote_reads(inventory: Inventory, target: str | None = None) -> set[str]:
    """`invoke promote --to TARGET`: its hosts and those of every environment upstream."""
    assert target is not None
    return deploy_reads(inventory, chain(inventory, target)) | webhooks(inventory, "promote")


TASK_READS: dict[str, Callable[[Inventory, str | None], set[str]]] = {
    "release": release_reads,
    "teardown": teardown_reads,
    "promote": promote_reads,
}
PROMOTED = sorted(e.name for e in INVENTORY.environments if e.upstream is not None)
SECRETS = sorted(release_reads(INVENTORY))


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
        'relorch release --tag "$GITHUB_REF_NAME" --inventory "$INVENTORY" --verify --json'
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
    assert 'relorch teardown --run-id "$run_id"' in teardown["run"]
    assert teardown["env"] == {
        "DIGITALOCEAN_ACCESS_TOKEN": "${{ secrets.DIGITALOCEAN_ACCESS_TOKEN }}"
    }


def test_github_lists_its_secrets() -> None:
    text = comments(GITHUB)
    for name in SECRETS:
        assert re.search(rf"^#\s+{name}\s", text, re.MULTILINE), name


def test_gitlab_promotions_are_manual_protected_and_serialised() -> None:
    data = load(GITLAB)
    assert sorted(n.removeprefix("deploy:") for n in data if n.startswith("deploy:")) == PROMOTED
    for environment in PROMOTED:
        job = gitlab_job(f"deploy:{environment}")
        assert job["environment"]["name"] == environment
        assert job["resource_group"] == f"deploy-{environment}"
        assert job["rules"][0]["when"] == "manual"
        assert 'invoke promote --to "$CI_ENVIRONMENT_NAME"' in job["script"][0]
        # What it promotes from runs on every host once the job before it has run.
        upstream = INVENTORY.environment(environment).upstream
        if upstream in PROMOTED:
            assert f"deploy:{upstream}" in job["needs"]


def test_the_gitlab_teardown_does_not_wait_for_manual_jobs() -> None:
    # A manual job of `rules` blocks the stages after it until someone runs it.
    assert gitlab_job("teardown")["needs"] == ["release"]


def test_github_promotion_runs_in_the_chosen_environment_one_at_a_time() -> None:
    data = load(CI / "github-promote.yml")
    job = data["jobs"]["promote"]
    assert job["environment"] == "${{ inputs.to }}"
    assert data["concurrency"] == {"group": "deploy-${{ inputs.to }}", "cancel-in-progress": False}
    run = next(step for step in job["steps"] if step.get("name") == "Promote")
    assert "${{" not in run["run"]  # inputs reach the script through env only


# Each job gets exactly the secrets its commands read.


def invoked(script: str) -> list[str]:
    """The tasks a job's script runs."""
    return re.findall(r"\b(?:invoke|relorch) ([\w.]+)", script)


def reads_of(script: str, targets: list[str]) -> set[str]:
    """What the tasks of ``script`` read; a promotion's, for each of ``targets``."""
    tasks = invoked(script)
    assert tasks, f"no invoke command in {script!r}"
    reads: set[str] = set()
    for task in tasks:
        assert task in TASK_READS, f"add what `invoke {task}` reads to TASK_READS"
        for target in targets if task == "promote" else [None]:
            reads |= TASK_READS[task](INVENTORY, target)
    return reads


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """GitLab's `extends`: hashes merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def gitlab_job(name: str) -> dict[str, Any]:
    """A GitLab job with what it `extends` merged in."""
    data = load(GITLAB)
    job = dict(data[name])
    parent = job.pop("extends", None)
    return merged(gitlab_job(parent), job) if parent else job


def gitlab_jobs() -> list[str]:
    """The jobs that run tasks (not templates, not keywords)."""
    return [
        name
        for name, value in load(GITLAB).items()
        if isinstance(value, dict) and not name.startswith(".") and "script" in gitlab_job(name)
    ]


def gitlab_scopes() -> dict[str, set[str]]:
    """Each variable of the list atop .gitlab-ci.yml, with the environment scopes it names."""
    entries: dict[str, str] = {}
    name = None
    for line in comments(GITLAB).splitlines():
        start = re.match(r"#   ([A-Z][A-Z0-9_]+)\s+(.*)", line)
        if start:
            name = start[1]
            entries[name] = start[2]
        elif name and re.match(r"#\s{20,}\S", line):
            entries[name] += " " + line.lstrip("# ")
        else:
            name = None
    scopes = {}
    for variable, text in entries.items():
        found = re.search(r"Environments: ([a-z0-9, -]+)\.", text)
        assert found, f".gitlab-ci.yml: {variable} names no `Environments: ...`"
        scopes[variable] = {scope.strip() for scope in found[1].split(",")}
    return scopes


def given_by_env(env: dict[str, str]) -> set[str]:
    """The secrets a GitHub step's `env:` passes, each under its own name."""
    given = set()
    for name, value in env.items():
        secret = re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", str(value))
        if secret:
            assert secret[1] == name, f"{name} is given the secret {secret[1]}"
            given.add(name)
    return given


# What a column of the README's secrets table, a GitLab environment scope and a job stand for.
COLUMNS = {
    "release": release_reads(INVENTORY),
    "teardown": teardown_reads(INVENTORY),
    **{f"promote --to {name}": promote_reads(INVENTORY, name) for name in PROMOTED},
}
SCOPE_OF_COLUMN = {
    "release": "release",
    "teardown": "cleanup",
    **{f"promote --to {name}": name for name in PROMOTED},
}


def test_the_table_covers_every_secret_the_code_names() -> None:
    # A new secret in orchestrator/credentials.py fails here until a job is given it.
    assert INVENTORY.registry is not None
    known = (
        credentials.secret_variables(
            INVENTORY.signing.key_env,
            INVENTORY.signing.passphrase_env,
            INVENTORY.registry.password_env,
            INVENTORY.python_index.token_env if INVENTORY.python_index else "",
        )
        - {""}
        - set(credentials.AWS_CREDENTIALS)
    )  # boto3's alternative to SPACES_KEY/SECRET
    used = set().union(*COLUMNS.values())
    assert known <= used, f"no job is given {sorted(known - used)}"


def test_each_gitlab_job_gets_exactly_the_variables_it_reads() -> None:
    scopes = gitlab_scopes()
    wrong = []
    for name in gitlab_jobs():
        job = gitlab_job(name)
        environment = job.get("environment", {}).get("name")
        assert environment, f"GitLab job {name} names no environment, so no scoped variables"
        script = "\n".join(job["script"])
        if "invoke promote" in script:
            assert '--to "$CI_ENVIRONMENT_NAME"' in script
        needed = reads_of(script, [environment])
        given = {variable for variable, where in scopes.items() if environment in where}
        if needed != given:
            wrong.append(
                f"{name} (environment {environment}) needs {sorted(needed - given)} more "
                f"and is given {sorted(given - needed)} it does not read"
            )
        for key in {REPO_SERVER_KEY, HOSTS_KEY} & given:
            assert f'ssh-add -q "${key}"' in script, f"{name} does not load {key} into its agent"
    assert not wrong, "; ".join(wrong)


def test_gitlab_jobs_run_in_the_scopes_of_their_columns() -> None:
    environments = {name: gitlab_job(name)["environment"]["name"] for name in gitlab_jobs()}
    assert environments == {
        "release": "release",
        "teardown": "cleanup",
        "sweep": "cleanup",
        "nightly": "release",
        "nightly-teardown": "cleanup",
        **{f"deploy:{name}": name for name in PROMOTED},
    }
    for name in ("release", "teardown", "sweep", "nightly", "nightly-teardown"):
        assert gitlab_job(name)["environment"]["action"] == "access"  # no deployment


def test_each_github_step_gets_exactly_the_secrets_it_reads() -> None:
    promote = load(PROMOTE)
    # YAML 1.1 reads the bare key `on` as the boolean true.
    trigger: dict[str, Any] = promote.get("on", promote[True])
    targets = trigger["workflow_dispatch"]["inputs"]["to"]["options"]
    assert sorted(targets) == PROMOTED, f"{PROMOTE.name} offers {targets}, not {PROMOTED}"
    jobs = [(GITHUB, job) for job in load(GITHUB)["jobs"].values()]
    jobs += [(PROMOTE, job) for job in promote["jobs"].values()]
    jobs += [(NIGHTLY, job) for job in load(NIGHTLY)["jobs"].values()]
    wrong = []
    checked = 0
    for path, job in jobs:
        for step in job["steps"]:
            run = step.get("run", "")
            given = given_by_env(step.get("env", {}))
            if "invoke " not in run and "relorch " not in run:
                assert not given, f"{path.name}: step {step} runs no task but gets {given}"
                continue
            checked += 1
            if "relorch promote" in run:
                assert step["env"]["TO"] == "${{ inputs.to }}" and '--to "$TO"' in run
            needed = reads_of(run, targets)
            if needed != given:
                wrong.append(
                    f"{path.name} step {step.get('name')}: needs {sorted(needed - given)} "
                    f"more, is given {sorted(given - needed)} it does not read"
                )
            for key in {REPO_SERVER_KEY, HOSTS_KEY} & given:
                assert f'ssh-add -q - <<<"${key}"' in run, f"{key} is not loaded into an agent"
    assert checked == 5  # Release, Tear down, Promote; the nightly's Release and Tear down
    assert not wrong, "; ".join(wrong)


def readme_secrets() -> tuple[list[str], dict[str, set[str]]]:
    """The secrets table of examples/ci/README.md: its job columns, and each variable's."""
    text = (CI / "README.md").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = next(line for line in lines if line.startswith("| variable |"))
    columns = [cell.strip().strip("`") for cell in header.strip("|").split("|")][2:]
    rows: dict[str, set[str]] = {}
    for line in lines[lines.index(header) + 1 :]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        variable = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        if not variable:
            break
        assert variable[1] not in rows, f"{variable[1]} has two rows"
        rows[variable[1]] = {c for c, cell in zip(columns, cells[2:], strict=True) if cell == "✓"}
    return columns, rows


def test_the_readme_secrets_table_marks_what_each_job_reads() -> None:
    columns, rows = readme_secrets()
    assert sorted(columns) == sorted(COLUMNS), columns
    wrong = []
    for column, needed in COLUMNS.items():
        marked = {variable for variable, used in rows.items() if column in used}
        if marked != needed:
            wrong.append(
                f"{column}: lacks {sorted(needed - marked)}, marks {sorted(marked - needed)}"
            )
    assert not wrong, "examples/ci/README.md secrets table: " + "; ".join(wrong)
    assert set(rows) == set().union(*COLUMNS.values())


def test_the_gitlab_scopes_are_the_readme_columns() -> None:
    _, rows = readme_secrets()
    scopes = gitlab_scopes()
    assert {v: {SCOPE_OF_COLUMN[c] for c in used} for v, used in rows.items()} == scopes


def test_a_push_to_main_releases_a_nightly_one_at_a_time_per_branch() -> None:
    job = gitlab_job("nightly")
    assert job["rules"] == [{"if": '$CI_COMMIT_BRANCH == "main"'}]
    assert job["resource_group"] == "nightly-$CI_COMMIT_REF_SLUG"
    script = "\n".join(job["script"])
    assert 'invoke release --nightly --ref "$CI_COMMIT_SHA"' in script
    teardown = gitlab_job("nightly-teardown")
    assert teardown["needs"] == ["nightly"] and teardown["rules"][0]["when"] == "always"
    # Never every droplet under the tag prefix: a tag's release may be running.
    assert "--run-id" in "\n".join(teardown["script"])
    assert "invoke teardown --inventory" not in "\n".join(teardown["script"])
    data = load(NIGHTLY)
    trigger = data.get("on", data.get(True))
    assert trigger == {"push": {"branches": ["main"]}}
    assert data["concurrency"] == {
        "group": "nightly-${{ github.ref_name }}",
        "cancel-in-progress": False,
    }
    steps = data["jobs"]["nightly"]["steps"]
    run = next(s["run"] for s in steps if s.get("name") == "Release the nightly")
    assert 'relorch release --nightly --ref "$GITHUB_SHA"' in run
