"""The inventory change as a pushed branch: real repositories, a bare ``origin`` on disk."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestrator.deploy import gitpush
from orchestrator.deploy.gitpush import (
    MAX_BRANCH_LENGTH,
    branch_name,
    inventory_repository,
    propose,
    review_url,
)
from orchestrator.errors import UsageError

# No test may hang: git's own deadlines are shorter, this is the backstop.
pytestmark = pytest.mark.timeout(60)

INVENTORY = """\
# Environments, pinned.
environments:
  - name: staging
    version: "1.2.4"
  - name: prod
    version: "1.2.3"   # promoted by relorch
    hosts: [web-1, web-2]
"""
PROMOTED = INVENTORY.replace('"1.2.3"', '"1.2.4"')
BRANCH = "relorch/prod-1.2.4"
IDENTITY = ("-c", "user.name=Dana Setup", "-c", "user.email=dana@example.com")


def git(directory: Path, *arguments: str, input: bytes | None = None) -> str:
    """Git's output in ``directory``; fails the test when git does."""
    result = subprocess.run(
        ["git", "-C", str(directory), *arguments],
        input=input,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().strip()


def refs(directory: Path) -> dict[str, str]:
    """Every branch of a repository and its commit."""
    listing = git(directory, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")
    return dict(line.split(" ") for line in listing.splitlines())


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No global git configuration or identity of the machine; a temporary folder to watch."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for name in (
        "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
        "EMAIL", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    return bare


@pytest.fixture
def work(tmp_path: Path, origin: Path) -> Path:
    """A clone on main with the inventory committed and pushed; identity Dana Operator."""
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    git(work, "config", "user.name", "Dana Operator")
    git(work, "config", "user.email", "dana@example.com")
    (work / "relorch.yaml").write_text(INVENTORY)
    (work / "README").write_text("the deploy repository\n")
    git(work, "add", "relorch.yaml", "README")
    git(work, "commit", "-q", "-m", "Inventory")
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main")
    return work


def other_clone(tmp_path: Path, origin: Path, name: str = "other") -> Path:
    clone = tmp_path / name
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    return clone


def write_hook(origin: Path, name: str, script: str) -> None:
    hook = origin / "hooks" / name
    hook.write_text("#!/bin/sh\n" + script)
    hook.chmod(0o755)


def promote(work: Path, **options: str) -> gitpush.Proposal:
    """What the command does: check, write the file, propose."""
    target = inventory_repository(work / "relorch.yaml")
    (work / "relorch.yaml").write_text(PROMOTED)
    return propose(
        target, PROMOTED.encode(), branch=BRANCH, message="Promote prod to 1.2.4", **options
    )


# The change, pushed


def test_the_branch_holds_the_one_changed_line_and_the_user_s_checkout_is_untouched(
    work: Path, origin: Path, isolated: Path
) -> None:
    target = inventory_repository(work / "relorch.yaml")
    (work / "relorch.yaml").write_text(PROMOTED)
    index = (work / ".git" / "index").read_bytes()
    head, before = git(work, "rev-parse", "HEAD"), refs(work)
    git_dir = sorted(os.listdir(work / ".git"))

    proposal = propose(target, PROMOTED.encode(), branch=BRANCH, message="Promote prod to 1.2.4")

    assert (proposal.branch, proposal.merged, proposal.remote) == (BRANCH, False, "origin")
    assert refs(origin) == {"refs/heads/main": head, f"refs/heads/{BRANCH}": proposal.commit}
    assert git(origin, "diff", "--numstat", "main", BRANCH) == "1\t1\trelorch.yaml"
    changed = [
        line
        for line in git(origin, "diff", "--unified=0", "main", BRANCH).splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == ['-    version: "1.2.3"   # promoted by relorch', '+    version: "1.2.4"   # promoted by relorch']  # fmt: skip
    assert git(origin, "rev-parse", f"{BRANCH}^") == head
    assert git(origin, "log", "-1", "--format=%an <%ae>|%cn|%B", BRANCH) == (
        "Dana Operator <dana@example.com>|Dana Operator|Promote prod to 1.2.4"
    )
    # The user's index, HEAD, branches (but the new one), work tree and folders as they were.
    assert (work / ".git" / "index").read_bytes() == index
    assert git(work, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert refs(work) == {**before, f"refs/heads/{BRANCH}": proposal.commit}
    assert git(work, "status", "--porcelain") == "M relorch.yaml"
    assert sorted(os.listdir(work / ".git")) == git_dir
    assert os.listdir(isolated) == []
    # A remote on disk is no forge.
    assert proposal.review_url is None


def test_a_file_in_a_folder_keeps_its_mode_and_the_rest_of_the_tree(
    work: Path, origin: Path
) -> None:
    folder = work / "inventory"
    folder.mkdir()
    (folder / "prod.yaml").write_text(INVENTORY)
    (folder / "prod.yaml").chmod(0o755)
    git(work, "add", "inventory")
    git(work, "commit", "-q", "-m", "Per environment")
    git(work, "push", "-q", "origin", "main")
    # Given through a link, as rewrite_pin follows one.
    (work / "link.yaml").symlink_to("inventory/prod.yaml")

    target = inventory_repository(work / "link.yaml")
    proposal = propose(target, PROMOTED.encode(), branch=BRANCH, message="Promote")

    assert target.relative == "inventory/prod.yaml"
    assert git(origin, "diff", "--numstat", "main", BRANCH) == "1\t1\tinventory/prod.yaml"
    assert git(origin, "ls-tree", BRANCH, "inventory/prod.yaml").startswith("100755 blob")
    assert proposal.commit == git(origin, "rev-parse", BRANCH)


def test_a_detached_head_is_the_parent(work: Path, origin: Path) -> None:
    """CI runners check a commit out detached; main is not checked out, so the index stays."""
    head = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "--detach")
    index = (work / ".git" / "index").read_bytes()
    proposal = promote(work, merge="main")
    assert git(origin, "rev-parse", f"{BRANCH}^", "main") == f"{head}\n{proposal.commit}"
    assert git(work, "rev-parse", "HEAD") == head
    assert (work / ".git" / "index").read_bytes() == index


def test_without_an_identity_the_commit_says_relorch(tmp_path: Path, origin: Path) -> None:
    work = tmp_path / "anonymous"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "relorch.yaml").write_text(INVENTORY)
    git(work, "add", "relorch.yaml")
    git(work, *IDENTITY, "commit", "-q", "-m", "Inventory")
    git(work, "remote", "add", "origin", str(origin))

    promote(work)

    assert git(origin, "log", "-1", "--format=%an <%ae>|%cn <%ce>", BRANCH) == (
        "relorch <relorch@localhost>|relorch <relorch@localhost>"
    )


def test_the_same_content_is_nothing_to_push(work: Path, origin: Path) -> None:
    target = inventory_repository(work / "relorch.yaml")
    with pytest.raises(UsageError, match="already holds this content: nothing to push"):
        propose(target, INVENTORY.encode(), branch=BRANCH, message="Nothing")
    assert f"refs/heads/{BRANCH}" not in refs(work) | refs(origin)


# --merge


def test_merge_fast_forwards_the_checked_out_branch_and_pushes_both(
    work: Path, origin: Path
) -> None:
    proposal = promote(work, merge="main")

    assert proposal.merged and proposal.review_url is None
    assert refs(origin) == {"refs/heads/main": proposal.commit, f"refs/heads/{BRANCH}": proposal.commit}  # fmt: skip
    assert refs(work) == refs(origin)
    assert git(work, "symbolic-ref", "HEAD") == "refs/heads/main"
    # The index follows main: nothing staged, nothing modified.
    assert git(work, "status", "--porcelain") == ""
    assert git(work, "diff-files", "--name-only") == ""


def test_merge_of_a_branch_not_checked_out_leaves_the_index_alone(work: Path, origin: Path) -> None:
    git(work, "branch", "deploy")
    git(work, "push", "-q", "origin", "deploy")
    target = inventory_repository(work / "relorch.yaml")
    index = (work / ".git" / "index").read_bytes()

    proposal = propose(target, PROMOTED.encode(), branch=BRANCH, message="x", merge="deploy")

    assert refs(origin)["refs/heads/deploy"] == proposal.commit
    assert refs(work)["refs/heads/deploy"] == proposal.commit
    assert refs(work)["refs/heads/main"] == target.head
    assert (work / ".git" / "index").read_bytes() == index


def test_merge_into_a_branch_that_is_not_where_the_change_was_made_is_refused(
    work: Path, origin: Path
) -> None:
    git(work, "branch", "deploy")
    (work / "README").write_text("newer\n")
    git(work, "commit", "-q", "-am", "Newer")
    git(work, "push", "-q", "origin", "main", "deploy")
    before_here, before_there = refs(work), refs(origin)

    with pytest.raises(UsageError, match=r"branch deploy is at [0-9a-f]{12} in .*, not at "):
        promote(work, merge="deploy")

    assert refs(work) == before_here and refs(origin) == before_there


def test_merge_when_origin_moved_on_is_refused_before_anything_is_made(
    work: Path, origin: Path, tmp_path: Path
) -> None:
    target = inventory_repository(work / "relorch.yaml")
    other = other_clone(tmp_path, origin)
    (other / "README").write_text("someone else\n")
    git(other, *IDENTITY, "commit", "-q", "-am", "Elsewhere")
    git(other, "push", "-q", "origin", "main")
    before_here, before_there = refs(work), refs(origin)

    with pytest.raises(UsageError, match=r"origin's main is at [0-9a-f]{12}, not at .*pull"):
        propose(target, PROMOTED.encode(), branch=BRANCH, message="x", merge="main")

    assert refs(work) == before_here and refs(origin) == before_there


def test_merge_when_origin_moves_during_the_push_puts_everything_back(
    work: Path, origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease: a push to main between the check and the push is not overwritten."""
    other = other_clone(tmp_path, origin)
    (other / "README").write_text("someone else\n")
    git(other, *IDENTITY, "commit", "-q", "-am", "Elsewhere")
    move_refs = gitpush._move_refs

    def racing(*arguments: object) -> None:
        move_refs(*arguments)  # type: ignore[arg-type]
        git(other, "push", "-q", "origin", "main")

    monkeypatch.setattr(gitpush, "_move_refs", racing)
    head = git(work, "rev-parse", "HEAD")

    with pytest.raises(
        UsageError, match=r"stale info.*nothing was pushed or left behind: origin.s main moved on"
    ):
        promote(work, merge="main")

    assert refs(work) == {"refs/heads/main": head}
    assert refs(origin) == {"refs/heads/main": git(other, "rev-parse", "HEAD")}
    assert git(work, "status", "--porcelain") == "M relorch.yaml"
    assert git(work, "diff", "--cached", "--name-only") == ""


def test_merge_into_a_branch_missing_here_or_on_origin_is_refused(work: Path, origin: Path) -> None:
    with pytest.raises(UsageError, match=r"branch nowhere does not exist in .*git branch nowhere origin/nowhere"):  # fmt: skip
        promote(work, merge="nowhere")
    git(work, "checkout", "--", "relorch.yaml")  # what the first attempt wrote
    git(work, "branch", "deploy")
    with pytest.raises(UsageError, match="origin has no branch deploy to fast-forward"):
        promote(work, merge="deploy")
    assert refs(origin) == {"refs/heads/main": git(work, "rev-parse", "HEAD")}
    assert f"refs/heads/{BRANCH}" not in refs(work)


def test_merge_into_a_branch_checked_out_in_another_worktree_is_refused(
    work: Path, tmp_path: Path
) -> None:
    git(work, "branch", "deploy")
    git(work, "worktree", "add", "-q", str(tmp_path / "deploy-tree"), "deploy")
    with pytest.raises(UsageError, match="checked out in another worktree"):
        promote(work, merge="deploy")
    assert f"refs/heads/{BRANCH}" not in refs(work)


# Refusals before anything happens


def test_a_file_with_changes_staged_or_not_is_refused(work: Path) -> None:
    (work / "relorch.yaml").write_text(PROMOTED)
    with pytest.raises(UsageError, match=r"has uncommitted changes \(not staged\): commit or discard") as caught:  # fmt: skip
        inventory_repository(work / "relorch.yaml")
    assert caught.value.exit_code == 2
    assert "pushed branch holds only the pin change" in str(caught.value)
    git(work, "add", "relorch.yaml")
    with pytest.raises(UsageError, match=r"uncommitted changes \(staged\)"):
        inventory_repository(work / "relorch.yaml")
    (work / "relorch.yaml").write_text(PROMOTED + "# more\n")
    with pytest.raises(UsageError, match=r"uncommitted changes \(staged and not staged\)"):
        inventory_repository(work / "relorch.yaml")


def test_changes_hidden_from_git_status_are_refused_too(work: Path) -> None:
    """The blobs are compared: an assume-unchanged edit would ride along on the branch."""
    git(work, "update-index", "--assume-unchanged", "relorch.yaml")
    (work / "relorch.yaml").write_text(INVENTORY + "# a local edit\n")
    assert git(work, "status", "--porcelain") == ""
    with pytest.raises(UsageError, match=r"uncommitted changes \(not staged\)"):
        inventory_repository(work / "relorch.yaml")


def test_a_file_added_but_never_committed_is_refused(work: Path) -> None:
    (work / "new.yaml").write_text(INVENTORY)
    git(work, "add", "new.yaml")
    with pytest.raises(UsageError, match=r"new\.yaml has uncommitted changes \(staged\)"):
        inventory_repository(work / "new.yaml")


def test_an_untracked_file_is_refused(work: Path) -> None:
    (work / "new.yaml").write_text(INVENTORY)
    with pytest.raises(UsageError, match=r"new\.yaml is not tracked by git: add and commit it"):
        inventory_repository(work / "new.yaml")


def test_a_file_outside_any_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "relorch.yaml").write_text(INVENTORY)
    with pytest.raises(UsageError, match="not in a git work tree"):
        inventory_repository(tmp_path / "plain" / "relorch.yaml")
    with pytest.raises(UsageError, match="no such file"):
        inventory_repository(tmp_path / "plain" / "missing.yaml")


def test_a_repository_without_a_commit_is_refused(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "main", str(fresh))
    (fresh / "relorch.yaml").write_text(INVENTORY)
    git(fresh, "add", "relorch.yaml")
    with pytest.raises(UsageError, match="no commit yet: commit the inventory first"):
        inventory_repository(fresh / "relorch.yaml")


def test_a_missing_remote_is_refused(work: Path) -> None:
    with pytest.raises(UsageError, match=r"has no remote 'upstream': add it \(git remote add"):
        inventory_repository(work / "relorch.yaml", remote="upstream")
    with pytest.raises(UsageError, match="is not a git remote's name"):
        inventory_repository(work / "relorch.yaml", remote="--upload-pack=touch x")


def test_a_remote_that_does_not_exist_on_disk_is_refused(work: Path, tmp_path: Path) -> None:
    git(work, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    with pytest.raises(UsageError, match=r"cannot push to remote origin .*nowhere\.git"):
        inventory_repository(work / "relorch.yaml")


def test_a_filtered_file_is_refused(work: Path) -> None:
    (work / ".gitattributes").write_text("*.yaml filter=lfs\n")
    git(work, "add", ".gitattributes")
    git(work, "commit", "-q", "-m", "LFS")
    with pytest.raises(UsageError, match="goes through the git filter 'lfs'"):
        inventory_repository(work / "relorch.yaml")


def test_without_git_there_is_a_usage_error(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(UsageError, match="git is not installed"):
        inventory_repository(work / "relorch.yaml")


def test_an_existing_local_branch_is_refused(work: Path, origin: Path) -> None:
    git(work, "branch", BRANCH)
    before_here, before_there = refs(work), refs(origin)
    with pytest.raises(UsageError, match=f"branch {BRANCH} already exists in .*git branch -D"):
        promote(work)
    assert refs(work) == before_here and refs(origin) == before_there


def test_an_existing_remote_branch_is_refused(work: Path, origin: Path, tmp_path: Path) -> None:
    other = other_clone(tmp_path, origin)
    git(other, "push", "-q", "origin", f"main:refs/heads/{BRANCH}")
    before_there = refs(origin)
    with pytest.raises(UsageError, match=f"branch {BRANCH} already exists on origin"):
        promote(work)
    assert f"refs/heads/{BRANCH}" not in refs(work)
    assert refs(origin) == before_there


def test_an_invalid_branch_name_is_refused(work: Path) -> None:
    target = inventory_repository(work / "relorch.yaml")
    with pytest.raises(UsageError, match="is not a valid git branch name"):
        propose(target, PROMOTED.encode(), branch="relorch/a..b", message="x")


# Refusals by the remote: nothing left behind


@pytest.mark.parametrize("merge", [None, "main"])
def test_a_remote_hook_that_refuses_leaves_nothing_behind(
    work: Path, origin: Path, merge: str | None
) -> None:
    write_hook(origin, "pre-receive", "echo 'pin changes go through review' >&2\nexit 1\n")
    before_there = refs(origin)
    head = git(work, "rev-parse", "HEAD")
    options = {"merge": merge} if merge else {}

    with pytest.raises(UsageError) as caught:
        promote(work, **options)

    message = str(caught.value)
    assert "\n" not in message
    assert "origin refused the push of relorch/prod-1.2.4" in message
    assert "pre-receive hook declined" in message
    assert "pin changes go through review" in message
    assert refs(work) == {"refs/heads/main": head}
    assert refs(origin) == before_there
    # The index entry is back at HEAD's blob; the file keeps what the caller wrote.
    assert git(work, "diff", "--cached", "--name-only") == ""
    assert git(work, "status", "--porcelain") == "M relorch.yaml"


def test_the_push_of_both_refs_is_atomic(work: Path, origin: Path) -> None:
    """An update hook refuses main alone: the new branch does not land without it."""
    write_hook(
        origin,
        "update",
        'if [ "$1" = refs/heads/main ]; then echo "main is protected" >&2; exit 1; fi\n',
    )
    before_there = refs(origin)
    with pytest.raises(UsageError, match="main is protected"):
        promote(work, merge="main")
    assert refs(origin) == before_there
    assert f"refs/heads/{BRANCH}" not in refs(work)


def test_local_hooks_do_not_run(work: Path, origin: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for name in ("pre-push", "reference-transaction", "pre-commit", "post-commit"):
        write_hook(work / ".git", name, f"echo {name} >> {marker}\nexit 1\n")
    proposal = promote(work, merge="main")
    assert not marker.exists()
    assert refs(origin)["refs/heads/main"] == proposal.commit


def test_a_push_that_fails_on_the_wire_puts_everything_back(
    work: Path, origin: Path, tmp_path: Path
) -> None:
    target = inventory_repository(work / "relorch.yaml")
    # Fetching (the branch check) still works; pushing goes nowhere.
    git(work, "remote", "set-url", "--push", "origin", str(tmp_path / "gone.git"))
    (work / "relorch.yaml").write_text(PROMOTED)
    before_there = refs(origin)

    with pytest.raises(UsageError, match=r"gone.git' does not appear to be a git repository\).*reachable"):  # fmt: skip
        propose(target, PROMOTED.encode(), branch=BRANCH, message="x", merge="main")

    assert refs(work) == {"refs/heads/main": target.head}
    assert refs(origin) == before_there
    assert git(work, "diff", "--cached", "--name-only") == ""


# Credentials, prompts and deadlines


class _Refusing(BaseHTTPRequestHandler):
    """An HTTP git server that wants a login nobody has."""

    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *arguments: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_credentials_in_the_remote_url_never_appear(work: Path, refusing_server: int) -> None:
    url = f"http://alice:s3cret-token@127.0.0.1:{refusing_server}/team/inventory.git"
    git(work, "remote", "set-url", "origin", url)
    with pytest.raises(UsageError) as caught:
        inventory_repository(work / "relorch.yaml")
    message = str(caught.value)
    assert "cannot push to remote origin" in message
    assert f"127.0.0.1:{refusing_server}/team/inventory.git" in message
    assert "s3cret" not in message and "alice" not in message


def test_a_remote_that_wants_a_password_never_prompts(work: Path, refusing_server: int) -> None:
    git(work, "remote", "set-url", "origin", f"http://127.0.0.1:{refusing_server}/team/inv.git")
    started = time.monotonic()
    with pytest.raises(UsageError, match=r"cannot push to remote origin .*terminal prompts disabled"):  # fmt: skip
        inventory_repository(work / "relorch.yaml")
    assert time.monotonic() - started < 20


def test_a_remote_that_never_answers_hits_the_deadline(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections queue, nothing ever answers
    try:
        port = silent.getsockname()[1]
        git(work, "remote", "set-url", "origin", f"http://u:s3cret@127.0.0.1:{port}/x.git")
        monkeypatch.setattr(gitpush, "NETWORK_TIMEOUT", 2.0)
        started = time.monotonic()
        with pytest.raises(UsageError, match="did not finish within 2 s") as caught:
            inventory_repository(work / "relorch.yaml")
        # git and its HTTP helper are killed together: no wait for the helper to let go.
        assert time.monotonic() - started < 6
        assert "s3cret" not in str(caught.value)
    finally:
        silent.close()


def test_the_target_and_propose_s_errors_hold_no_credentials(
    work: Path, refusing_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://tok:s3cret@127.0.0.1:{refusing_server}/ops/inv.git"
    git(work, "remote", "set-url", "origin", url)
    # Past the dry run (as if the remote had let us in then), to reach propose's own calls.
    monkeypatch.setattr(gitpush, "_check_pushable", lambda *arguments: None)
    target = inventory_repository(work / "relorch.yaml")
    assert target.remote_url == f"http://127.0.0.1:{refusing_server}/ops/inv.git"
    assert "s3cret" not in repr(target)
    with pytest.raises(UsageError, match="cannot read remote origin") as caught:
        propose(target, PROMOTED.encode(), branch=BRANCH, message="x")
    assert "s3cret" not in str(caught.value) and "tok" not in str(caught.value)
    assert f"refs/heads/{BRANCH}" not in refs(work)


def test_what_git_said_is_one_scrubbed_line_the_remote_s_first() -> None:
    said = gitpush._said(
        b"fatal: Authentication failed for 'https://bot:ghp_s3cret@github.com/o/r.git/'\n"
    )
    assert said == "Authentication failed for 'https://github.com/o/r.git/'"
    assert (
        gitpush._said(
            b"remote: see https://ci:s3cret@example.com/why        \n"
            b"remote: error: hook declined to update refs/heads/main        \n"
            b"error: failed to push some refs to '../o.git'\n"
        )
        == "see https://example.com/why"
    )
    assert (
        gitpush._said(
            b"fatal: 'x' does not appear to be a git repository\n"
            b"fatal: Could not read from remote repository.\n\n"
            b"Please make sure you have the correct access rights\nand the repository exists.\n"
        )
        == "'x' does not appear to be a git repository"
    )
    assert len(gitpush._said(b"error: " + b"x" * 5000)) == 200


# Review addresses


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("https://github.com/acme/deploy.git", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("https://github.com/acme/deploy", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("https://x-access-token:ghs_s3cret@github.com/acme/deploy.git/", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("git@github.com:acme/deploy.git", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("ssh://git@github.com/acme/deploy.git", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("ssh://git@ssh.github.com:443/acme/deploy.git", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("https://gitlab.com/acme/ops/deploy.git", "https://gitlab.com/acme/ops/deploy/-/merge_requests/new?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4"),
        ("git@gitlab.com:acme/deploy.git", "https://gitlab.com/acme/deploy/-/merge_requests/new?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4"),
        ("https://oauth2:glpat-s3cret@gitlab.example.org:8443/g/deploy.git", "https://gitlab.example.org:8443/g/deploy/-/merge_requests/new?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4"),
        ("ssh://git@gitlab.example.org:2222/g/sub/deploy.git", "https://gitlab.example.org/g/sub/deploy/-/merge_requests/new?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4"),
        ("/srv/git/deploy.git", None),
        ("file:///srv/git/deploy.git", None),
        ("../deploy.git", None),
        ("https://bitbucket.org/acme/deploy.git", None),
        ("https://mygitlab.com/acme/deploy.git", None),
        ("https://github.com/acme", None),
        ("https://github.com/acme/deploy/extra.git", None),
    ],
)  # fmt: skip
def test_review_url(remote: str, expected: str | None) -> None:
    assert review_url(remote, BRANCH) == expected


def test_review_url_encodes_the_branch() -> None:
    assert review_url("git@github.com:a/b.git", "relorch/prod-1.2.4+build.5") == (
        "https://github.com/a/b/compare/relorch/prod-1.2.4%2Bbuild.5?expand=1"
    )
    assert review_url("git@gitlab.com:a/b.git", "relorch/prod-1.2.4+build.5") == (
        "https://gitlab.com/a/b/-/merge_requests/new"
        "?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4%2Bbuild.5"
    )


# Branch names


@pytest.mark.parametrize(
    ("environment", "what", "expected"),
    [
        ("prod", "1.2.4", "relorch/prod-1.2.4"),
        ("container-staging", "cache-1.5.0", "relorch/container-staging-cache-1.5.0"),
        ("prod", "1.2.4-rc.1+build.5", "relorch/prod-1.2.4-rc.1+build.5"),
        ("pr od", "hello 1.2.4, cache 1.5.0", "relorch/pr-od-hello-1.2.4-cache-1.5.0"),
        ("prod", "a..b//c~^:?*[\\@{x}", "relorch/prod-a.b-c-x"),
        (".hidden", "-x.lock", "relorch/hidden-x"),
        ("prod", "v1.lock.lock", "relorch/prod-v1"),
        ("", "", "relorch/env"),
        ("dev", "....", "relorch/dev"),
    ],
)
def test_branch_name(environment: str, what: str, expected: str) -> None:
    assert branch_name(environment, what) == expected


@pytest.mark.parametrize(
    ("environment", "what"),
    [
        ("prod", "1.2.4"),
        ("p/r\\o.d", "x.lock/y..z@{1}"),
        ("é-prod", "ünïcode\t\x00ctl\x7f"),
        ("e" * 300, "1.2.3-" + "a" * 300),
        ("prod", "9" * 300 + ".lock"),
        ("-", "@"),
        ("prod", "..lock"),
    ],
)
def test_branch_names_pass_git_check_ref_format(environment: str, what: str) -> None:
    name = branch_name(environment, what)
    assert len(name) <= MAX_BRANCH_LENGTH and name.startswith("relorch/")
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, (name, result.stderr)
