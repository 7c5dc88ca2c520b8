"""Deploys on real sandbox servers: real apt, real systemd, real health checks.

One world for the module (servers boot once): release v1.2.3 -> dev, promote to staging
and prod in batches of 1, roll back, a version installed by hand upstream, a release whose
service fails its health check (and root on dev erasing that), two deploys at once, a
deploy killed with SIGKILL, drift, and bad input that touches nothing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.publish.ledger import FILE as LEDGER
from orchestrator.sandbox.reposerver import served_directory
from orchestrator.sandbox.servers import server_root
from tests.conftest import new_test_directory
from tests.integration.conftest import (
    ROOT,
    Receiver,
    SandboxWorld,
    chromium,
    ok,
    receiving,
    sandbox_inventory,
    world_of,
)

pytestmark = pytest.mark.timeout(900)
HOOK_ENV = "ORC_TEST_TEAM_WEBHOOK"


@pytest.fixture(scope="module")
def webhook() -> Iterator[Receiver]:
    with receiving() as server:
        os.environ[HOOK_ENV] = server.url
        try:
            yield server
        finally:
            del os.environ[HOOK_ENV]


@pytest.fixture(scope="module")
def world(webhook: Receiver) -> Iterator[SandboxWorld]:
    directory = new_test_directory()
    data, sandbox = sandbox_inventory(directory, servers=True)
    data["notify"] = [{"name": "team", "url_env": HOOK_ENV, "format": "json"}]
    with world_of(directory, data, sandbox) as world:
        init = world.invoke(
            "example.init", "--tag", "v1.2.3", "--tag", "v1.2.4", "--tag", "v1.2.6",
            "--broken", "v1.2.7",
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        yield world


def status(world: SandboxWorld) -> dict[str, dict[str, Any]]:
    views = json.loads(ok(world.invoke("env.status", "--json")))
    return {view["environment"]: view for view in views}


def records(world: SandboxWorld, host: str) -> list[dict[str, Any]]:
    path = server_root(world.settings, host) / "var/lib/relorch/deploys.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def installed(world: SandboxWorld) -> dict[str, str | None]:
    return {
        name: host["installed"]
        for view in status(world).values()
        for name, host in view["hosts"].items()
    }


def dpkg_state(world: SandboxWorld, host: str) -> str:
    """What the host's own dpkg says of hello: its state abbreviation and version."""
    return subprocess.run(
        ["chroot", str(server_root(world.settings, host)), "dpkg-query", "-W", "-f",
         "${db:Status-Abbrev}${Version}", "hello"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


ALL = ["dev-1", "staging-1", "staging-2", "prod-1", "prod-2", "prod-3"]


def test_release_then_promote_through_every_environment(world: SandboxWorld) -> None:
    out = ok(world.invoke("release", "--tag", "v1.2.3"))
    assert "dev runs 1.2.3 on every host" in out
    ok(world.invoke("promote", "--to", "staging"))
    out = ok(world.invoke("promote", "--to", "prod", "--approved-by", "alice"))
    # Batches of one: each prod host finishes its health check before the next starts.
    order = [line.split(":")[0] for line in out.splitlines() if " health done" in line]
    assert order == ["prod-1", "prod-2", "prod-3"]
    views = status(world)
    for view in views.values():
        assert view["running"] == "1.2.3"
        for name, host in view["hosts"].items():
            assert host["installed"] == "1.2.3", name
            assert host["drift"] == [], (name, host["drift"])
            assert host["units"] == {"hello.service": "active"}
    for host in ALL:
        last = records(world, host)[-1]
        assert (last["version"], last["result"]) == ("1.2.3", "deployed"), host
    assert records(world, "prod-1")[-1]["approved_by"] == "alice"
    assert records(world, "prod-1")[-1]["action"] == "promote"


def test_noop_deploy_changes_nothing(world: SandboxWorld) -> None:
    before = {host: len(records(world, host)) for host in ALL}
    out = ok(world.invoke("deploy", "--env", "prod"))
    assert "every host of prod runs 1.2.3 already: nothing to do" in out
    assert {host: len(records(world, host)) for host in ALL} == before


def test_a_dry_run_whose_reader_left_ends_quietly(world: SandboxWorld) -> None:
    # head -n 0 has gone before the plan is printed (the hosts are read first): every write
    # meets a closed pipe, as the end of `| head` does.
    command = (
        f"{shlex.quote(sys.executable)} -m invoke deploy --env prod --dry-run --inventory "
        f"{shlex.quote(str(world.inventory_path))} | head -n 0"
    )
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (141, "", "")


def test_prod_deploys_as_its_login_through_sudo_and_refuses_a_host_without_the_lines(
    world: SandboxWorld,
) -> None:
    # What ran as root on prod ran through the deploy login's sudo, which logs it.
    logged = (server_root(world.settings, "prod-1") / "var/log/sudo.log").read_text()
    assert re.search(r": deploy : .*USER=root ; COMMAND=/bin/sh -c .*apt-get install", logged)
    lines = ok(world.invoke("env.sudoers", "--env", "prod"))
    assert "deploy ALL=(root) NOPASSWD: /bin/sh\n" in lines
    assert ok(world.invoke("env.sudoers", "--env", "dev")).startswith("# Every host of dev is")
    sudoers = server_root(world.settings, "prod-2") / "etc/sudoers.d/relorch"
    assert sudoers.read_text() == lines  # the sandbox's administrator put them there
    before = {host: len(records(world, host)) for host in ALL}
    sudoers.unlink()
    try:
        refused = world.invoke("promote", "--to", "prod", "--version", "1.2.3")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.startswith(
            "error: prod-2: user deploy cannot run commands as root with sudo without a "
            "password (sudo: a password is required): add the line "
            "'deploy ALL=(root) NOPASSWD: /bin/sh'"
        ), refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    finally:
        sudoers.write_text(lines)
        sudoers.chmod(0o440)
    assert {host: len(records(world, host)) for host in ALL} == before
    assert not (server_root(world.settings, "prod-1") / "var/lib/relorch/locks/prod").exists()
    assert installed(world)["prod-2"] == "1.2.3"


def test_rollback_brings_the_previous_version_back_and_marks_the_one_it_left(
    world: SandboxWorld,
) -> None:
    out = ok(world.invoke("release", "--tag", "v1.2.4"))
    assert "dev runs 1.2.4" in out
    out = ok(world.invoke("env.rollback", "--env", "dev"))
    assert "dev runs 1.2.3 on every host" in out
    last = records(world, "dev-1")[-1]
    assert (last["action"], last["version"], last["result"]) == ("rollback", "1.2.3", "rolled-back")
    assert (last["previous"], last["health"]) == ("1.2.4", "passed")
    # The range never takes back what was rolled back from; a new release moves on.
    assert "runs 1.2.3 already" in ok(world.invoke("deploy", "--env", "dev"))
    refused = world.invoke("deploy", "--env", "dev", "--version", "1.2.4")
    assert refused.returncode == 2 and "rolled back" in refused.stderr
    assert "dev runs 1.2.6" in ok(world.invoke("release", "--tag", "v1.2.6"))


def answer(url: str) -> str:
    """What ``url`` answers once it answers 200 (a service restarting takes a moment)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def install_by_hand(world: SandboxWorld, host: str, package: str) -> None:
    """What root on ``host`` does without the tool: apt-get and a restart over SSH, no record."""
    (entry,) = [h for e in world.data["environments"] for h in e["hosts"] if h["name"] == host]
    key = server_root(world.settings, host).parent.parent / "client_key"
    command = (
        "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
        f"--allow-downgrades {package} && systemctl restart hello.service"
    )
    subprocess.run(
        [
            "ssh", "-i", str(key), "-p", str(entry.get("port", 22)), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", f"root@{entry['address']}", command,
        ],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def test_a_version_installed_by_hand_upstream_is_not_promoted(world: SandboxWorld) -> None:
    # dev runs 1.2.6, staging and prod 1.2.3: root puts 1.2.6 on every staging host.
    for host in ("staging-1", "staging-2"):
        install_by_hand(world, host, "hello=1.2.6-1")
    before = {host: len(records(world, host)) for host in ALL}
    refused = world.invoke("promote", "--to", "prod", "--approved-by", "alice")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr == (
        "error: staging-1 runs 1.2.6, staging-2 runs 1.2.6 of staging: not recorded (installed "
        "by hand, or a deploy killed before its record); nothing is promoted: put them right "
        "with invoke deploy --env staging\n"
    )
    assert {host: len(records(world, host)) for host in ALL} == before
    assert {installed(world)[host] for host in ("prod-1", "prod-2", "prod-3")} == {"1.2.3"}
    # It runs there, healthy: only the missing record keeps it from prod.
    for entry in next(e for e in world.data["environments"] if e["name"] == "staging")["hosts"]:
        assert "ok hello 1.2.6" in answer(f"http://{entry['address']}:8080/health")
    assert status(world)["prod"]["next_promotion"]["why"] == refused.stderr[len("error: ") : -1]
    # What the message says puts them right: deployed, checked and recorded.
    assert "staging runs 1.2.6 on every host" in ok(world.invoke("deploy", "--env", "staging"))


def test_a_release_failing_its_health_check_is_rolled_back_and_not_promoted(
    world: SandboxWorld,
) -> None:
    result = world.invoke("release", "--tag", "v1.2.7")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "health check failed" in result.stderr and "dev-1" in result.stderr
    assert "failing hello 1.2.7" in result.stderr
    assert installed(world)["dev-1"] == "1.2.6"
    last = records(world, "dev-1")[-1]
    assert (last["version"], last["result"]) == ("1.2.7", "failed")
    assert "went back to 1.2.6" in last["detail"]
    assert status(world)["dev"]["failed_versions"] == ["1.2.4", "1.2.7"]
    staged = {host: len(records(world, host)) for host in ("staging-1", "staging-2")}
    refused = world.invoke("promote", "--to", "staging", "--version", "1.2.7")
    assert refused.returncode == 2, refused.stderr
    assert "1.2.7 failed in dev" in refused.stderr
    plain = world.invoke("deploy", "--env", "staging", "--version", "1.2.7")
    assert plain.returncode == 2, plain.stderr
    assert {host: len(records(world, host)) for host in staged} == staged


def test_a_failure_erased_on_the_host_is_still_refused_by_the_ledger(world: SandboxWorld) -> None:
    ledger = json.loads((served_directory(world.settings).parent / LEDGER).read_text())
    (entry,) = [e for e in ledger["environments"]["dev"] if e["version"] == "1.2.7"]
    assert entry["host"] == "dev-1" and "health check failed" in entry["detail"]
    path = server_root(world.settings, "dev-1") / "var/lib/relorch/deploys.jsonl"
    kept = path.read_text()
    staged = {host: len(records(world, host)) for host in ("staging-1", "staging-2")}
    try:
        # Root on dev-1 erases the failed line: the range still never takes 1.2.7 again.
        lines = [line for line in kept.splitlines() if '"result":"failed"' not in line]
        path.write_text("".join(f"{line}\n" for line in lines))
        assert "every host of dev runs 1.2.6 already" in ok(world.invoke("deploy", "--env", "dev"))
        # ...and forges a healthy record of it: staging does not take it.
        forged = {**json.loads(lines[-1]), "version": "1.2.7", "previous": "1.2.6"}
        forged |= {"result": "deployed", "health": "passed", "run_id": "20261207t000000-f0f0f0"}
        path.write_text("".join(f"{line}\n" for line in [*lines, json.dumps(forged)]))
        promoted = world.invoke("promote", "--to", "staging", "--version", "1.2.7")
        deployed = world.invoke("deploy", "--env", "staging", "--version", "1.2.7")
        for refused in (promoted, deployed):
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1
            assert "1.2.7 failed" in refused.stderr, refused.stderr
        assert "as the deploy ledger beside the repository says" in promoted.stderr
    finally:
        path.write_text(kept)
    assert {host: len(records(world, host)) for host in staged} == staged


def test_two_deploys_at_once_one_waits_and_both_end_consistent(world: SandboxWorld) -> None:
    command = [
        sys.executable,
        "-m",
        "invoke",
        "promote",
        "--to",
        "staging",
        "--inventory",
        str(world.inventory_path),
    ]
    runs = [
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    said = "".join(out + err for out, err in outputs)
    assert "waiting up to" in said or "runs 1.2.6 already" in said
    views = status(world)
    assert {h["installed"] for h in views["staging"]["hosts"].values()} == {"1.2.6"}
    assert views["staging"]["lock"] is None


def test_a_deploy_killed_mid_batch_leaves_a_named_lock_and_the_next_converges(
    world: SandboxWorld,
) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "invoke", "promote", "--to", "prod", "--inventory", str(world.inventory_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    assert run.stdout is not None
    for line in run.stdout:
        if line.startswith("prod-1: health done"):
            os.killpg(run.pid, signal.SIGKILL)
            break
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL
    shown = ok(world.invoke("env.unlock", "--env", "prod"))
    assert "is locked by run" in shown and "promote 1.2.6" in shown
    assert "removed the lock" in ok(world.invoke("env.unlock", "--env", "prod", "--force"))
    versions = installed(world)
    assert versions["prod-1"] == "1.2.6" and versions["prod-3"] == "1.2.3"
    ok(world.invoke("promote", "--to", "prod"))
    views = status(world)
    assert {h["installed"] for h in views["prod"]["hosts"].values()} == {"1.2.6"}
    assert views["prod"]["lock"] is None


def test_promote_write_rewrites_the_pin_in_place(world: SandboxWorld) -> None:
    before = world.inventory_path.read_text()
    out = ok(world.invoke("promote", "--to", "prod", "--write"))
    assert "runs 1.2.6 already" in out
    after = world.inventory_path.read_text()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1 and "1.2.3" in changed[0][0] and "1.2.6" in changed[0][1], changed
    view = status(world)["prod"]
    assert view["desired"] == "1.2.6"
    assert all(host["drift"] == [] for host in view["hosts"].values())


def _git(directory: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, check=True,
        env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
             "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"},
    )  # fmt: skip
    return done.stdout


def test_promote_write_push_proposes_the_pin_as_a_branch_of_one_line(world: SandboxWorld) -> None:
    # The inventory in a repository of its own, prod pinned back to 1.2.3 there.
    repository, origin = world.directory / "gitops", world.directory / "origin.git"
    repository.mkdir()
    _git(world.directory, "init", "-q", "--bare", str(origin))
    _git(repository, "init", "-q", "-b", "main")
    inventory = repository / "inventory.yaml"
    text = world.inventory_path.read_text()
    inventory.write_text(text.replace("version: 1.2.6", "version: 1.2.3", 1))
    assert inventory.read_text() != text
    _git(repository, "add", "inventory.yaml")
    _git(repository, "commit", "-q", "-m", "inventory")
    _git(repository, "remote", "add", "origin", str(origin))
    _git(repository, "push", "-q", "origin", "main")
    records_before = {host: len(records(world, host)) for host in ALL}

    def push(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "invoke", "promote", "--to", "prod", "--write", "--push",
             *extra, "--inventory", str(inventory)],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    inventory.write_text(inventory.read_text() + "# a local edit\n")
    dirty = push()
    assert dirty.returncode == 2 and "uncommitted changes" in dirty.stderr, dirty.stderr
    _git(repository, "checkout", "-q", "--", "inventory.yaml")
    out = ok(push())
    assert "pushed branch relorch/prod-1.2.6" in out, out
    assert "nothing was deployed" in out
    diff = _git(origin, "diff", "main", "relorch/prod-1.2.6", "--", "inventory.yaml")
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert len(changed) == 2 and "1.2.3" in changed[0] and "1.2.6" in changed[1], diff
    # Nothing deployed, the working tree as it was.
    assert {host: len(records(world, host)) for host in ALL} == records_before
    assert _git(repository, "status", "--porcelain") == ""
    again = push()
    assert again.returncode == 2 and "exists" in again.stderr, again.stderr


def test_a_signal_mid_deploy_puts_the_touched_hosts_back(world: SandboxWorld) -> None:
    # staging-2's service takes seconds to start, so the signal surely comes mid-rollout: a
    # rollout of two quick hosts can end before a busy machine delivers it.
    drop_in = server_root(world.settings, "staging-2") / "etc/systemd/system/hello.service.d"
    drop_in.mkdir(parents=True, exist_ok=True)
    (drop_in / "zz-slow-start.conf").write_text("[Service]\nExecStartPre=/bin/sleep 4\n")
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "invoke", "env.rollback", "--env", "staging", "--to", "1.2.3",
             "--inventory", str(world.inventory_path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert run.stdout is not None
        for line in run.stdout:
            if " install done" in line:
                run.send_signal(signal.SIGINT)
                break
        out, err = run.communicate(timeout=120)
    finally:
        shutil.rmtree(drop_in)  # the next restart's daemon-reload forgets it
    assert run.returncode == 130, out + err
    assert "was interrupted" in out
    views = status(world)
    assert {h["installed"] for h in views["staging"]["hosts"].values()} == {"1.2.6"}
    assert views["staging"]["lock"] is None
    assert "1.2.3" not in views["staging"]["failed_versions"]
    results = {records(world, host)[-1]["result"] for host in ("staging-1", "staging-2")}
    assert "interrupted" in results


def test_a_package_installed_by_hand_shows_as_drift(world: SandboxWorld) -> None:
    root = server_root(world.settings, "staging-1")
    subprocess.run(
        ["chroot", str(root), "apt-get", "install", "-y", "-q", "--allow-downgrades", "hello=1.2.3-1"],
        check=True, capture_output=True,
    )  # fmt: skip
    host = status(world)["staging"]["hosts"]["staging-1"]
    assert host["installed"] == "1.2.3"
    assert any("by hand" in d for d in host["drift"]), host["drift"]
    check_the_environments_page(world)
    assert "staging runs 1.2.6" in ok(
        world.invoke("deploy", "--env", "staging", "--version", "1.2.6")
    )


def check_the_environments_page(world: SandboxWorld) -> None:
    """The page in headless Chromium: every host and version, the drift, a lock's holder."""
    lock = server_root(world.settings, "prod-1") / "var/lib/relorch/locks/prod"
    lock.mkdir(parents=True)
    (lock / "details").write_text(
        "run_id=20261201t100000-abcdef\ntag=promote 9.9.9\nhost=ci-runner-7\npid=1\n"
        "started=1\nboot=x\nsince=2026-12-01T10:00:00Z\ntoken=feed\n"
    )
    try:
        page = world.directory / "environments.html"
        ok(world.invoke("env.page", "--out", str(page)))
    finally:
        shutil.rmtree(lock)
    shot = world.directory / "environments.png"
    chromium(world.directory / "profile-shot", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000
    dom = chromium(world.directory / "profile-dom", "--dump-dom", page.as_uri())
    views = status(world)
    for view in views.values():
        for name, host in view["hosts"].items():
            assert f'data-host="{name}"' in dom
            assert host["installed"] in dom
    assert 'class="drift" data-host="staging-1"' in dom
    assert "locked by run 20261201t100000-abcdef (promote 9.9.9) on ci-runner-7" in dom
    assert "1.2.7" in dom  # the failed release, listed among the releases and failures
    # Every release shows when the repository began to serve it.
    assert dom.count('data-field="published">20') == len(re.findall(r"data-release=", dom)) >= 4
    check_the_published_page(world)


def check_the_published_page(world: SandboxWorld) -> None:
    """--publish serves the page beside the repositories; the landing page links to it."""
    base = world.data["publish"][0]["url"]
    published = ok(world.invoke("env.page", "--publish", "sandbox-repo"))
    assert f"published the environments page: {base}/environments.html" in published
    with urllib.request.urlopen(f"{base}/environments.html", timeout=10) as answer:
        served = answer.read().decode()
    assert all(f'data-host="{name}"' in served for name in ALL)
    assert "file://" not in served, "the reports stay on the machine that made them"
    with urllib.request.urlopen(f"{base}/index.html", timeout=10) as answer:
        assert f'<a href="{base}/environments.html">' in answer.read().decode()
    refused = world.invoke("env.page", "--publish", "nowhere")
    assert refused.returncode == 2 and "no publish target named 'nowhere'" in refused.stderr
    ok(world.invoke("env.page", "--unpublish", "sandbox-repo"))
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(f"{base}/environments.html", timeout=10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("deploy", "--env", "qa"), "unknown environment 'qa'"),
        (("deploy", "--env", "dev", "--version", "not-a-version"), "is not a release version"),
        (("deploy", "--env", "dev", "--version", "9.9.9"), "9.9.9 is not published"),
        (("promote", "--to", "dev"), "has no 'from'"),
        (("deploy", "--env", "staging", "--version", "1.2.3"), "newer than 1.2.3"),
    ],
)
def test_bad_input_exits_2_and_touches_no_host(
    world: SandboxWorld, args: tuple[str, ...], message: str
) -> None:
    before = {host: len(records(world, host)) for host in ALL}
    result = world.invoke(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert {host: len(records(world, host)) for host in ALL} == before


def test_a_host_key_mismatch_is_refused_before_anything_changes(world: SandboxWorld) -> None:
    data = yaml.safe_load(world.inventory_path.read_text())
    staging = next(e for e in data["environments"] if e["name"] == "staging")
    wrong = server_root(world.settings, "prod-1").parent / "ssh_host_ed25519_key.pub"
    key = wrong.read_text().strip() if wrong.exists() else None
    if key is None:
        key = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(server_root(world.settings, "prod-1").parent / "ssh_host_ed25519_key")],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
    staging["hosts"][0]["host_key"] = key
    path = world.directory / "wrong-key.yaml"
    path.write_text(yaml.safe_dump(data))
    before = {host: len(records(world, host)) for host in ALL}
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "deploy", "--env", "staging", "--inventory", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "host key mismatch" in result.stderr
    assert {host: len(records(world, host)) for host in ALL} == before
    time.sleep(0)


def test_a_half_installed_package_is_shown_as_dpkg_says_and_a_deploy_under_way_is_named(
    world: SandboxWorld,
) -> None:
    root = server_root(world.settings, "staging-2")
    # Unpacked, not configured: what a deploy cut short in its install leaves.
    subprocess.run(
        ["chroot", str(root), "sh", "-c",
         "cd /tmp && apt-get download -q hello=1.2.3-1 && dpkg --unpack hello_1.2.3-1_*.deb"],
        check=True, capture_output=True,
    )  # fmt: skip
    assert dpkg_state(world, "staging-2") == "iU 1.2.3-1"
    host = status(world)["staging"]["hosts"]["staging-2"]
    assert host["installed"] is None
    held = host["unsettled"]["hello"]
    assert f"{held['dpkg']} {held['version']}" == dpkg_state(world, "staging-2")
    assert "hello 1.2.3-1 is unpacked, not configured (dpkg iU)" in host["drift"]
    text = ok(world.invoke("env.status", "--env", "staging"))
    assert "staging-2: installed hello 1.2.3-1 unpacked, not configured;" in text
    # As if a deploy held staging's lock (on its first host) with staging-2 half-way.
    lock = server_root(world.settings, "staging-1") / "var/lib/relorch/locks/staging"
    lock.mkdir(parents=True)
    (lock / "details").write_text(
        "run_id=20261201t100000-abcdef\ntag=deploy 1.2.6\nhost=ci-runner-7\npid=1\n"
        "started=1\nboot=x\nsince=2026-12-01T10:00:00Z\ntoken=feed\n"
    )
    try:
        busy = world.invoke("env.rollback", "--env", "staging")
    finally:
        shutil.rmtree(lock)
    assert busy.returncode == 1, busy.stdout + busy.stderr
    assert busy.stderr.startswith(
        "error: staging is being deployed: run 20261201t100000-abcdef (deploy 1.2.6) on ci-runner-7"
    ), busy.stderr
    assert "dpkg --configure" not in busy.stderr and busy.stderr.count("\n") == 1
    subprocess.run(
        ["chroot", str(root), "dpkg", "--configure", "-a"], check=True, capture_output=True
    )
    ok(world.invoke("deploy", "--env", "staging", "--version", "1.2.6"))
    for name, host in status(world)["staging"]["hosts"].items():
        assert (host["installed"], host["unsettled"]) == ("1.2.6", {}), name
        assert dpkg_state(world, name) == "ii 1.2.6-1"


def test_a_huge_line_in_a_hosts_records_hides_none_of_the_others(world: SandboxWorld) -> None:
    path = server_root(world.settings, "dev-1") / "var/lib/relorch/deploys.jsonl"
    huge = "A" * 3_000_000
    # No newline after it, as a write cut short leaves it: the next record must still be
    # a line of its own.
    with path.open("a") as appended:
        appended.write(huge)
    try:
        view = status(world)["dev"]
        # Every record before it still counts: what failed, the last deploy.
        assert view["failed_versions"] == ["1.2.4", "1.2.7"]
        last = view["hosts"]["dev-1"]["last_record"]
        assert (last["version"], last["result"]) == ("1.2.7", "failed")
        assert "runs 1.2.6 already" in ok(world.invoke("promote", "--to", "staging"))
        # The rollback's target comes from the record that brought 1.2.6, before the line.
        assert "dev runs 1.2.3 on every host" in ok(world.invoke("env.rollback", "--env", "dev"))
        host = status(world)["dev"]["hosts"]["dev-1"]
        assert (host["last_record"]["action"], host["last_record"]["version"]) == (
            "rollback", "1.2.3",
        )  # fmt: skip
        assert dpkg_state(world, "dev-1") == "ii 1.2.3-1" and host["installed"] == "1.2.3"
    finally:
        path.write_text(path.read_text().replace(f"{huge}\n", ""))
    assert records(world, "dev-1")[-1]["result"] == "rolled-back"


def test_every_release_deploy_promotion_and_rollback_was_told_and_reported(
    world: SandboxWorld, webhook: Receiver
) -> None:
    events = [r["body"] for r in webhook.received]
    kinds = {(e["event"], e["environment"], e["result"]) for e in events}
    assert ("release", None, "published") in kinds
    assert ("deploy", "dev", "deployed") in kinds  # the release's auto-deploy
    assert ("deploy", "dev", "failed") in kinds  # the broken release
    assert ("promote", "prod", "deployed") in kinds
    assert ("rollback", "dev", "rolled-back") in kinds or ("rollback", "dev", "deployed") in kinds
    assert ("rollback", "staging", "interrupted") in kinds
    for event in events:
        if event["event"] != "release":
            report = Path(event["report"])
            assert report.is_file(), event
            page = report.read_text()
            assert event["version"] in page and event["environment"] in page
    failed = next(e for e in events if e["result"] == "failed")
    page = Path(failed["report"]).read_text()
    assert "dev-1" in page and "failing hello 1.2.7" in page


def test_a_commit_pushed_to_main_reaches_dev_through_a_nightly(world: SandboxWorld) -> None:
    # A fix on main after the last (broken) tag: the commit a push to main would bring.
    source = Path(world.data["project"]["source"])
    _git(source, "rm", "-q", "HEALTH")
    _git(source, "commit", "-q", "-m", "Fix the health check")
    commit = _git(source, "rev-parse", "HEAD").strip()
    done = world.invoke("release", "--nightly", "--ref", "main", "--json", timeout=900)
    summary = json.loads(ok(done))
    assert summary["commit"] == commit and summary["channel"] == "nightly"
    nightly = summary["version"].replace("~", "-")
    assert nightly.startswith("1.3.0-nightly.")
    assert f"deploying {nightly} to dev (auto)" in done.stderr
    view = status(world)
    assert {h["installed"] for h in view["dev"]["hosts"].values()} == {nightly}
    # Nightlies reach only the environments that take them: not staging (^1.2.0).
    assert nightly not in {h["installed"] for h in view["staging"]["hosts"].values()}
    last = records(world, "dev-1")[-1]
    assert (last["version"], last["result"]) == (nightly, "deployed")
