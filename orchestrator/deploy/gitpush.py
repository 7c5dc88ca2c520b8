"""An inventory change as a pushed git branch, for ``--push`` (GitOps).

:func:`inventory_repository` checks, before anything is deployed or written, that the
inventory file can be proposed: tracked, unchanged since HEAD, in a repository with a
commit and the remote. :func:`propose` then commits the new content of that one file on a
new branch whose parent is HEAD, and pushes it (with ``merge``, also fast-forwards a branch
such as ``main`` and pushes both refs in one atomic push).

Only git plumbing over :mod:`subprocess`, no forge API: the commit is built in a temporary
index (``read-tree``, ``hash-object``, ``update-index``, ``write-tree``, ``commit-tree``),
so the user's index, work tree and checked-out branch are not touched, except that with
``merge`` of the checked-out branch the index entry of the inventory follows the branch.
The push is the one step that cannot be taken back: every local change is made before
it, and undone when it fails.

How git runs here, and why:

- **Local hooks are off** (``core.hooksPath=/dev/null``, ``--no-verify``). The commit is
  made with plumbing, which never runs pre-commit or commit-msg hooks, so running only
  pre-push (and reference-transaction) would apply half of the repository's local checks
  anyway. Those hooks are code of whoever set up the working copy (on a CI runner, often
  a hook manager installed by the checkout), they may be slow, interactive or need tools
  the runner lacks, and they would run inside a deploy command whose environment holds
  registry and cloud secrets. A client hook is no enforcement point either (``--no-verify``
  skips it); the remote's hooks and branch protection are, and they still run: ``-c``
  settings travel in ``GIT_CONFIG_PARAMETERS``, which git clears for the receiving side,
  even for a remote on disk.
- **Other configuration that runs commands is avoided**, not trusted: fsmonitor is off,
  and an inventory that goes through a ``filter`` driver (git-lfs, git-crypt) is refused,
  since what relorch commits must be the exact bytes it wrote. Credential helpers and
  ``core.sshCommand`` are kept: they are how a push authenticates.
- **Nothing waits for a person**: ``GIT_TERMINAL_PROMPT=0``, stdin is ``/dev/null``, and
  git runs in its own session without a controlling terminal, so ssh cannot ask for a
  password or a host key either. Every call has a deadline, after which the whole process
  group (git, ssh, the HTTP helper) is killed.
- **Credentials never leave**: a remote URL is kept and shown without its user
  information, and every line of git's output that is shown is scrubbed the same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from orchestrator.errors import UsageError

# Local plumbing answers in milliseconds; a deadline only guards against a stuck lock or disk.
LOCAL_TIMEOUT = 30.0
# ls-remote and push talk to the remote; a slow forge still answers well within this.
NETWORK_TIMEOUT = 120.0
# Who commits when the repository configures nobody (a fresh CI runner, a container).
FALLBACK_NAME = "relorch"
FALLBACK_EMAIL = "relorch@localhost"
BRANCH_PREFIX = "relorch/"
# Far below any file system's limit for a ref's path, and still readable in a forge's list.
MAX_BRANCH_LENGTH = 100
_MAX_SAID = 200

# Variables that would point git at another repository or index than the inventory's (set
# when relorch itself runs from a git hook or alias).
_REPOSITORY_VARIABLES = frozenset(
    {
        "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
        "GIT_QUARANTINE_PATH",
    }
)  # fmt: skip
# See the module's docstring for why each is set.
_SETTINGS = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")
# The temporary index stays one plain file: a split or sparse index would write shared
# files into .git or expand differently from the user's.
_SCRATCH_INDEX_SETTINGS = ("-c", "core.splitIndex=false", "-c", "index.sparse=false")

# Lines git adds around the one that says what happened.
_BOILERPLATE = (
    "hint:", "To ", "failed to push some refs", "Could not read from remote repository",
    "Please make sure you have the correct access rights", "and the repository exists",
    "the remote end hung up unexpectedly", "hook declined to update", "atomic push failed",
)  # fmt: skip
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]*@")
_UNSAFE_IN_BRANCH = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class GitTarget:
    """The inventory file in its git repository, as checked by :func:`inventory_repository`."""

    shown: str  # the path as the user gave it, for messages
    top: Path  # the work tree's top level
    relative: str  # the file's path in the repository ('/'-separated)
    mode: str  # its mode in HEAD (100644 or 100755)
    blob: str  # its blob in HEAD
    head: str  # HEAD's commit when checked: the parent of the proposed commit
    head_branch: str | None  # the checked-out branch (None when HEAD is detached)
    remote: str
    remote_url: str  # the remote's push URL without user information


@dataclass(frozen=True)
class Proposal:
    """A pushed change: its branch and commit, and where to review it."""

    branch: str
    commit: str
    remote: str
    merged: bool  # True when ``merge`` was given: that branch now holds the commit too
    # The page to open the pull or merge request from; None for an unknown forge, and when
    # merged (the change is already on the merge branch, nothing is left to review).
    review_url: str | None


# Running git


def _environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process's environment without repository pointers, made non-interactive."""
    environment = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_VARIABLES}
    environment.update(
        GIT_TERMINAL_PROMPT="0",
        # Commands that may refresh the index on the side (status, diff) must not: only
        # the one deliberate update (merge into the checked-out branch) writes it.
        GIT_OPTIONAL_LOCKS="0",
        # A file named '*.yaml' or ':(top)x' is a name, not a pattern.
        GIT_LITERAL_PATHSPECS="1",
        # Git's own words, to read them; the remote's lines pass through as they are.
        LC_ALL="C",
    )
    environment.update(extra or {})
    return environment


def _run(
    directory: Path,
    arguments: Sequence[str],
    *,
    extra: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    network: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """Run git in ``directory``, with a deadline; UsageError if git is missing or too slow."""
    timeout = NETWORK_TIMEOUT if network else LOCAL_TIMEOUT
    command = ["git", "-C", str(directory), *_SETTINGS, *arguments]
    try:
        # Its own session: no controlling terminal for anything to prompt on, and one
        # process group to kill at the deadline. subprocess.run would kill git only, and
        # then wait for ssh or the HTTP helper holding the pipes open.
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_environment(extra),
            start_new_session=True,
        )
    except FileNotFoundError:
        raise UsageError(
            "git is not installed (or not on PATH): --push commits and pushes with it; "
            "install git or leave out --push"
        ) from None
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise UsageError(
            f"git {arguments[0]} did not finish within {timeout:.0f} s in {directory}: "
            "check that the remote is reachable and that nothing holds the repository's locks"
        ) from None
    except BaseException:
        _kill(process)
        raise
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill git and everything it started, then collect it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        # Something that left the group (an ssh ControlPersist master) holds the pipes:
        # stop reading them rather than wait for it.
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        process.wait()


def _git(
    directory: Path,
    *arguments: str,
    extra: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> str:
    """Git's standard output (its last newline removed); raises with git's words on failure."""
    result = _run(directory, arguments, extra=extra, stdin=stdin)
    if result.returncode != 0:
        raise UsageError(f"git {arguments[0]} failed in {directory}: {_said(result.stderr)}")
    return os.fsdecode(result.stdout).removesuffix("\n")


def scrub(text: str) -> str:
    """``text`` without the user information (``user:token@``) of any URL in it."""
    return _USERINFO.sub(r"\1", text)


def _said(stderr: bytes) -> str:
    """The last meaningful line git wrote, scrubbed and trimmed: what to show a user.

    A line the remote's side wrote (``remote: ...``, such as a hook's reason) comes first:
    the lines after it only say that the push failed.
    """
    lines = [line.strip() for line in stderr.decode("utf-8", errors="replace").splitlines()]
    remote = [line.removeprefix("remote:") for line in lines if line.startswith("remote:")]
    for candidates in (remote, lines):
        for line in reversed(candidates):
            for prefix in ("fatal:", "error:"):
                line = line.strip().removeprefix(prefix).strip()
            if line and not line.startswith(_BOILERPLATE):
                line = scrub(line)
                return line if len(line) <= _MAX_SAID else line[: _MAX_SAID - 3] + "..."
    return "no message"


# Checking the inventory's repository


def inventory_repository(path: Path, remote: str = "origin") -> GitTarget:
    """Check that the inventory at ``path`` can be proposed as a pushed branch of its repository.

    Call it before deploying or writing anything. It refuses (UsageError, one line saying
    what to fix) a file that is not tracked in a git work tree, one with uncommitted
    changes (staged or not), a repository without a commit, a file that goes through a
    git filter, and a remote that is not configured, cannot be reached or does not take a
    push from us (a dry run: no hook of the remote runs, so those refuse only later).
    A detached HEAD is accepted (CI runners check commits out that way); the change's
    parent is HEAD's commit either way.
    """
    shown = str(path)
    # rewrite_pin writes through a symbolic link to the file it names: that file changes.
    file = path.resolve()
    if not file.is_file():
        raise UsageError(f"{shown}: no such file: pass the inventory's YAML file")
    top = _top_level(file.parent, shown)
    relative = _tracked_path(file, shown)
    head = _run(top, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
    if head.returncode != 0:
        raise UsageError(
            f"{shown}: its repository has no commit yet: commit the inventory first, so the "
            "pushed branch has a parent to differ from"
        )
    _check_unfiltered(top, relative, shown)
    mode, blob = _check_clean(top, file, relative, _entry(top, "HEAD", relative), shown)
    remote_url = _remote_url(top, remote, shown)
    head_commit = os.fsdecode(head.stdout).strip()
    _check_pushable(top, remote, remote_url, head_commit, shown)
    return GitTarget(
        shown=shown,
        top=top,
        relative=relative,
        mode=mode,
        blob=blob,
        head=head_commit,
        head_branch=_checked_out(top),
        remote=remote,
        remote_url=remote_url,
    )


def _top_level(directory: Path, shown: str) -> Path:
    """The top of the work tree holding ``directory``."""
    answer = _run(directory, ["rev-parse", "--show-toplevel"])
    if answer.returncode != 0:
        raise UsageError(
            f"{shown}: not in a git work tree ({_said(answer.stderr)}): --push commits the "
            "inventory to its git repository; keep the inventory in one"
        )
    return Path(os.fsdecode(answer.stdout).removesuffix("\n"))


def _tracked_path(file: Path, shown: str) -> str:
    """The file's path in its repository; UsageError when git does not track it."""
    answer = _run(
        file.parent, ["ls-files", "-z", "--full-name", "--error-unmatch", "--", file.name]
    )
    names = os.fsdecode(answer.stdout).split("\0")
    if answer.returncode != 0 or not names[0]:
        raise UsageError(
            f"{shown} is not tracked by git: add and commit it (git add {file.name}) first"
        )
    return names[0]


def _check_unfiltered(top: Path, relative: str, shown: str) -> None:
    """Refuse a file that a filter driver (git-lfs, git-crypt) stores as something else."""
    answer = _git(top, "check-attr", "-z", "filter", "--", relative)
    value = answer.split("\0")[2] if answer.count("\0") >= 2 else "unspecified"
    if value not in ("unspecified", "unset"):
        raise UsageError(
            f"{shown} goes through the git filter {value!r} (.gitattributes): --push commits "
            "the inventory as plain text; take it out of the filter"
        )


def _check_clean(
    top: Path, file: Path, relative: str, head: tuple[str, str] | None, shown: str
) -> tuple[str, str]:
    """HEAD's mode and blob of the file; UsageError when its index entry or content differs.

    The blobs are compared, not `git status` asked: status trusts the index's stat data and
    its assume-unchanged and skip-worktree bits, which can hide an edit that the rewritten
    file (read from the work tree) would then carry onto the pushed branch.
    """
    listing = [
        line for line in _git(top, "ls-files", "-s", "-z", "--", relative).split("\0") if line
    ]
    # "<mode> <blob> <stage>\t<path>"; a conflict has stages 1 to 3 and no entry 0.
    fields = listing[0].split("\t", 1)[0].split(" ") if len(listing) == 1 else []
    index = (fields[0], fields[1]) if len(fields) == 3 and fields[2] == "0" else None
    # --path: git's own conversions (eol), as `git add` would make the blob.
    content = _git(top, "hash-object", f"--path={relative}", "--", str(file))
    staged = index is None or index != head
    unstaged = index is None or content != index[1]
    if head is not None and not (staged or unstaged):
        return head
    which = " and ".join(
        part for part, present in (("staged", staged), ("not staged", unstaged)) if present
    )
    raise UsageError(
        f"{shown} has uncommitted changes ({which}): commit or discard them first, so the "
        "pushed branch holds only the pin change"
    )


def _entry(top: Path, commit: str, relative: str) -> tuple[str, str] | None:
    """The mode and blob of ``relative`` in ``commit``; None when it has no such file."""
    listing = _git(top, "ls-tree", "-z", commit, "--", relative).split("\0")[0]
    if not listing:
        return None
    mode, kind, rest = listing.split(" ", 2)
    if kind != "blob":
        raise UsageError(f"{relative} is a {kind} in {commit[:12]}, not a file")
    return mode, rest.split("\t", 1)[0]


def _checked_out(top: Path) -> str | None:
    """The branch HEAD names, or None when HEAD is detached."""
    answer = _run(top, ["symbolic-ref", "--quiet", "HEAD"])
    ref = os.fsdecode(answer.stdout).strip()
    return ref.removeprefix("refs/heads/") if answer.returncode == 0 else None


def _remote_url(top: Path, remote: str, shown: str) -> str:
    """The remote's push URL without user information; UsageError if there is no such remote."""
    if not remote or remote.startswith("-") or not remote.isprintable():
        raise UsageError(f"{remote!r} is not a git remote's name: pass one such as origin")
    # --push: where the branch goes (pushurl, pushInsteadOf applied), which is also where
    # it is reviewed.
    answer = _run(top, ["remote", "get-url", "--push", remote])
    if answer.returncode != 0:
        raise UsageError(
            f"{shown}: its repository has no remote {remote!r}: add it "
            f"(git remote add {remote} URL) or name another remote"
        )
    return _without_userinfo(os.fsdecode(answer.stdout).strip())


def _check_pushable(top: Path, remote: str, remote_url: str, head: str, shown: str) -> None:
    """Refuse a remote that cannot be reached or does not let us push, before any deploy."""
    # A dry run connects as a push does (reading needs no login on a public forge, pushing
    # does) but sends nothing and runs no hook. A rejection of the probe's ref itself still
    # means the remote answered: the porcelain "To" line says it did.
    probe = f"{head}:refs/heads/{BRANCH_PREFIX}dry-run-probe"
    answer = _run(
        top,
        [
            "push", "--dry-run", "--porcelain", "--no-verify", "--no-follow-tags",
            "--recurse-submodules=no", remote, probe,
        ],
        network=True,
    )  # fmt: skip
    reached = any(line.startswith("To ") for line in os.fsdecode(answer.stdout).splitlines())
    if answer.returncode != 0 and not reached:
        raise UsageError(
            f"{shown}: cannot push to remote {remote} ({remote_url}): {_said(answer.stderr)}: "
            "check its URL, that it is reachable and that you may push to it"
        )


def _without_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` when it is a URL; other forms as they are."""
    if "://" not in url:
        return url  # a path, or scp-like user@host:path, which holds no password
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


# Branch names and review addresses


def branch_name(environment: str, what: str) -> str:
    """``relorch/<environment>-<what>`` made a valid branch name (``git check-ref-format``).

    Anything but letters, digits and ``. _ + -`` becomes ``-``; runs of dashes and dots
    collapse, the parts lose leading and trailing ones, and the name is at most
    :data:`MAX_BRANCH_LENGTH` characters.
    """
    env = _safe(environment)[:40].strip(".-") or "env"
    room = MAX_BRANCH_LENGTH - len(BRANCH_PREFIX) - len(env) - 1
    change = _safe(what)[:room].strip(".-")
    name = f"{BRANCH_PREFIX}{env}-{change}" if change else f"{BRANCH_PREFIX}{env}"
    # No component may end in .lock (git's lock files), nor the name in a dot.
    while name.endswith(".lock"):
        name = name.removesuffix(".lock").rstrip(".-")
    return name


def _safe(text: str) -> str:
    text = _UNSAFE_IN_BRANCH.sub("-", text)
    text = re.sub(r"\.{2,}", ".", text)
    text = re.sub(r"-{2,}", "-", text)
    return text.strip(".-")


def review_url(remote_url: str, branch: str) -> str | None:
    """The page that opens a pull request (GitHub) or merge request (GitLab) from ``branch``.

    None for a remote that is neither github.com nor gitlab.com or a ``gitlab.*`` host (a
    path on disk, another forge). User information in ``remote_url`` never appears in it.
    """
    location = _forge_location(remote_url)
    if location is None:
        return None
    base, host, path = location
    segments = path.split("/")
    if host in ("github.com", "www.github.com", "ssh.github.com"):
        if len(segments) != 2:
            return None
        return f"https://github.com/{path}/compare/{quote(branch, safe='/')}?expand=1"
    if host == "gitlab.com" or host.startswith("gitlab."):
        if len(segments) < 2:
            return None
        return (
            f"{base}/{path}/-/merge_requests/new"
            f"?merge_request%5Bsource_branch%5D={quote(branch, safe='')}"
        )
    return None


def _forge_location(url: str) -> tuple[str, str, str] | None:
    """The web base (scheme and host), the lowercase host and the repository's path of ``url``."""
    scp = re.fullmatch(r"(?:[^@/:]+@)?([^@/:]+):(?!/)(.+)", url)
    if "://" not in url and scp:
        host, path, base = scp[1].lower(), scp[2], f"https://{scp[1].lower()}"
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            return None
        host, path = (parts.hostname or ""), parts.path
        # The web answers where HTTP did; an ssh port says nothing about the web's.
        web = "http" if parts.scheme == "http" else "https"
        keep_port = port is not None and parts.scheme in ("https", "http")
        base = f"{web}://{host}:{port}" if keep_port else f"{web}://{host}"
    path = path.strip("/").removesuffix(".git").strip("/")
    if not host or not path or any(part in ("", ".", "..") for part in path.split("/")):
        return None
    return base, host, path


# Proposing


def preflight(target: GitTarget, *, branch: str, merge: str | None = None) -> None:
    """Check that ``branch`` can be created and ``merge`` fast-forwarded, locally and on the remote.

    :func:`propose` checks this itself; call it earlier (before deploying) when the branch's
    name is known then. UsageError when ``branch`` is not a valid name or exists here or on
    the remote, when ``merge`` is not at the commit the change is made on (here or on the
    remote), or when the remote cannot be reached.
    """
    for name in (branch, *([merge] if merge is not None else [])):
        _check_ref_format(target, name)
    if _local(target, branch) is not None:
        raise UsageError(
            f"branch {branch} already exists in {target.top}: delete it "
            f"(git branch -D {branch}) or wait for the change it holds to be merged"
        )
    if merge is not None:
        _check_merge_here(target, branch, merge)
    heads = _remote_heads(target, [branch, *([merge] if merge is not None else [])])
    if branch in heads:
        raise UsageError(
            f"branch {branch} already exists on {target.remote}: merge or delete it there "
            "first, so the change is proposed once"
        )
    if merge is not None and merge not in heads:
        raise UsageError(
            f"{target.remote} has no branch {merge} to fast-forward: push it first, or name "
            "another branch to merge into"
        )
    if merge is not None and heads[merge] != target.head:
        raise UsageError(
            f"{target.remote}'s {merge} is at {heads[merge][:12]}, not at {target.head[:12]} "
            f"where the change is made (it moved on, or {merge} has commits {target.remote} "
            f"lacks): pull (or push) {merge} first, so only the pin change lands on it"
        )


def _check_ref_format(target: GitTarget, name: str) -> None:
    answer = _run(target.top, ["check-ref-format", f"refs/heads/{name}"])
    if answer.returncode != 0 or name.startswith("-"):
        raise UsageError(f"{name[:80]!r} is not a valid git branch name: pass another")


def _local(target: GitTarget, branch: str) -> str | None:
    """The commit of local branch ``branch``; None when there is none."""
    answer = _run(
        target.top, ["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}"]
    )
    return os.fsdecode(answer.stdout).strip() if answer.returncode == 0 else None


def _check_merge_here(target: GitTarget, branch: str, merge: str) -> None:
    """``merge`` must be a local branch at HEAD's commit, checked out nowhere else."""
    if merge == branch:
        raise UsageError(
            f"--merge {merge} names the new branch itself: name the branch to merge into"
        )
    at = _local(target, merge)
    if at is None:
        raise UsageError(
            f"branch {merge} does not exist in {target.top}: create it at HEAD's commit "
            f"(git branch {merge} {target.remote}/{merge}), or name another branch to merge into"
        )
    if at != target.head:
        raise UsageError(
            f"branch {merge} is at {at[:12]} in {target.top}, not at {target.head[:12]} where "
            f"the change is made (it moved on, or HEAD is elsewhere): check out {merge}, pulled, "
            "before running, so it fast-forwards"
        )
    # Moving a branch another worktree has checked out would leave that worktree showing
    # the change reverted.
    for worktree, checked_out in _worktrees(target.top):
        if checked_out == merge and worktree.resolve() != target.top.resolve():
            raise UsageError(
                f"branch {merge} is checked out in another worktree ({worktree}): run from "
                "there, or merge by hand"
            )


def _worktrees(top: Path) -> list[tuple[Path, str | None]]:
    """Each worktree of the repository and the branch it has checked out."""
    found: list[tuple[Path, str | None]] = []
    # Line by line, not -z: that needs git 2.36, and CI images carry older ones.
    for record in _git(top, "worktree", "list", "--porcelain").split("\n\n"):
        fields = dict(line.split(" ", 1) for line in record.splitlines() if " " in line)
        if "worktree" in fields:
            branch = fields.get("branch", "").removeprefix("refs/heads/") or None
            found.append((Path(fields["worktree"]), branch))
    return found


def _remote_heads(target: GitTarget, branches: Sequence[str]) -> dict[str, str]:
    """The commits of ``branches`` on the remote (those it has)."""
    refs = [f"refs/heads/{name}" for name in branches]
    answer = _run(target.top, ["ls-remote", "--heads", target.remote, *refs], network=True)
    if answer.returncode != 0:
        raise UsageError(
            f"cannot read remote {target.remote} ({target.remote_url}): {_said(answer.stderr)}: "
            "check its URL, that it is reachable and that you may read it"
        )
    heads: dict[str, str] = {}
    for line in os.fsdecode(answer.stdout).splitlines():
        commit, _, ref = line.partition("\t")
        # ls-remote matches a pattern against the tail of a ref: keep exact names only.
        if ref in refs:
            heads[ref.removeprefix("refs/heads/")] = commit
    return heads


def propose(
    target: GitTarget, new_text: bytes, *, branch: str, message: str, merge: str | None = None
) -> Proposal:
    """Commit ``new_text`` as the inventory's content on new branch ``branch``, and push it.

    The commit changes that one file, and its parent is the HEAD that
    :func:`inventory_repository` saw. The user's index, work tree and HEAD are not
    touched. With ``merge``, that branch (at the same commit) is fast-forwarded to the new
    commit too, and both refs are pushed in one atomic push; if it is the checked-out
    branch, the inventory's index entry follows it (the caller has written the file).
    When the push fails, the local branch is deleted, ``merge`` and the index entry are put
    back, and UsageError says what the remote said.
    """
    preflight(target, branch=branch, merge=merge)
    blob, commit = _commit(target, new_text, message)
    _move_refs(target, branch, commit, merge)
    follow_index = merge is not None and _checked_out(target.top) == merge
    try:
        if follow_index:
            _set_index_entry(target, blob)
        _push(target, branch, merge)
    except BaseException as error:
        # Interrupted mid-push, the remote may have taken it: the next run then finds the
        # branch there and says so, rather than pushing the change twice.
        problem = _undo(target, branch, commit, merge, follow_index)
        if problem and isinstance(error, UsageError):
            raise UsageError(f"{error}; and {problem}") from None
        raise
    return Proposal(
        branch=branch,
        commit=commit,
        remote=target.remote,
        merged=merge is not None,
        review_url=None if merge is not None else review_url(target.remote_url, branch),
    )


def _commit(target: GitTarget, new_text: bytes, message: str) -> tuple[str, str]:
    """Write the blob and a commit of HEAD's tree with that one file replaced."""
    top = target.top
    # --path: git's own conversions for the file (eol, ident), as `git add` would apply.
    blob = _git(top, "hash-object", "-w", "--stdin", f"--path={target.relative}", stdin=new_text)
    with tempfile.TemporaryDirectory(prefix="relorch-index-") as scratch:
        # A private index: the user's (and whatever they staged) is never read or written.
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        _git(top, *_SCRATCH_INDEX_SETTINGS, "read-tree", target.head, extra=index)
        _git(
            top, *_SCRATCH_INDEX_SETTINGS, "update-index", "--cacheinfo",
            target.mode, blob, target.relative, extra=index,
        )  # fmt: skip
        tree = _git(top, *_SCRATCH_INDEX_SETTINGS, "write-tree", extra=index)
    if tree == _git(top, "rev-parse", f"{target.head}^{{tree}}"):
        raise UsageError(
            f"{target.shown} at {target.head[:12]} already holds this content: nothing to push"
        )
    text = message if message.endswith("\n") else message + "\n"
    commit = _git(
        top, "commit-tree", tree, "-p", target.head, "-F", "-",
        stdin=text.encode("utf-8"), extra=_identity(top),
    )  # fmt: skip
    return blob, commit


def _identity(top: Path) -> dict[str, str]:
    """Environment for the commit: the fallback identity for each part nobody configured."""
    answer = _run(top, ["config", "-z", "--get-regexp", r"^(user|author|committer)\.(name|email)$"])
    configured = {
        key: value
        for key, _, value in (
            entry.partition("\n") for entry in os.fsdecode(answer.stdout).split("\0") if entry
        )
    }
    extra: dict[str, str] = {}
    for role in ("author", "committer"):
        for field, fallback in (("name", FALLBACK_NAME), ("email", FALLBACK_EMAIL)):
            variable = f"GIT_{role.upper()}_{field.upper()}"
            given = (
                os.environ.get(variable)
                or configured.get(f"{role}.{field}")
                or configured.get(f"user.{field}")
                or (os.environ.get("EMAIL") if field == "email" else None)
            )
            if not given:
                extra[variable] = fallback
    return extra


def _move_refs(target: GitTarget, branch: str, commit: str, merge: str | None) -> None:
    """Create ``branch`` and fast-forward ``merge``, in one transaction that checks both."""
    # An empty old value: the branch must not exist. The merge branch must still be at
    # HEAD's commit. Either both move or neither.
    lines = [f"create refs/heads/{branch} {commit}"]
    if merge is not None:
        lines.append(f"update refs/heads/{merge} {commit} {target.head}")
    answer = _run(
        target.top,
        ["update-ref", "-m", f"relorch: propose {branch}", "--stdin"],
        stdin=("\n".join(lines) + "\n").encode(),
    )
    if answer.returncode != 0:
        raise UsageError(
            f"cannot create branch {branch} in {target.top} ({_said(answer.stderr)}): "
            "delete the branch in the way, or run again"
        )


def _set_index_entry(target: GitTarget, blob: str) -> None:
    """Point the user's index entry for the inventory at ``blob``, then refresh its stat data."""
    _git(target.top, "update-index", "--cacheinfo", target.mode, blob, target.relative)
    # --cacheinfo leaves no stat data; the refresh compares the file with the blob and, when
    # they match, records it, so `git status` is clean without hashing it again.
    _run(target.top, ["update-index", "-q", "--refresh"])


def _push(target: GitTarget, branch: str, merge: str | None) -> None:
    """Push the branch (and ``merge``) to the remote; UsageError with the remote's words."""
    refspecs = [f"refs/heads/{branch}:refs/heads/{branch}"]
    # The leases hold on the remote what preflight saw: the branch absent, the merge
    # branch at HEAD's commit. A fast-forward from there needs no force; the lease only
    # refuses when someone pushed meanwhile (or the merge branch has commits the remote lacks).
    leases = [f"--force-with-lease=refs/heads/{branch}:"]
    if merge is not None:
        refspecs.append(f"refs/heads/{merge}:refs/heads/{merge}")
        leases.append(f"--force-with-lease=refs/heads/{merge}:{target.head}")
    # --atomic only when there are two refs: a remote that lacks it still takes one.
    atomic = ["--atomic"] if merge is not None else []
    answer = _run(
        target.top,
        [
            "push", "--porcelain", "--no-verify", "--no-follow-tags", "--recurse-submodules=no",
            *atomic, *leases, target.remote, *refspecs,
        ],
        network=True,
    )  # fmt: skip
    if answer.returncode != 0:
        raise UsageError(_refusal(target, branch, merge, answer))


def _refusal(
    target: GitTarget, branch: str, merge: str | None, answer: subprocess.CompletedProcess[bytes]
) -> str:
    """One line: what the remote said, and what to do."""
    # --porcelain: one line per ref on stdout, "!<TAB>from:to<TAB>[rejected] (reason)".
    reasons = [
        line.split("\t")[2]
        for line in os.fsdecode(answer.stdout).splitlines()
        if line.startswith("!") and line.count("\t") >= 2
    ]
    reason = next(
        (r for r in reasons if "atomic push fail" not in r), reasons[0] if reasons else ""
    )
    said = _said(answer.stderr)
    if "stale info" in reason or "fetch first" in reason or "non-fast-forward" in reason:
        advice = (
            f"{target.remote}'s {merge} moved on from {target.head[:12]}: pull it, then run again"
            if merge is not None and f"refs/heads/{merge}:" in _rejected_refs(answer)
            else f"branch {branch} appeared on {target.remote} meanwhile: delete it there or run again"
        )
    elif "hook declined" in reason:
        advice = f"do what {target.remote}'s message says, or change the inventory by hand"
    else:
        advice = (
            f"check that {target.remote} is reachable and that you may push to it, then run again"
        )
    shown = f"{reason}: {said}" if reason and said != "no message" else reason or said
    pushed = f"{branch}{f' and {merge}' if merge else ''}"
    # A reason per ref means the remote answered and said no; none, that it was not reached.
    what = (
        f"{target.remote} refused the push of {pushed}"
        if reasons
        else f"the push of {pushed} to {target.remote} failed"
    )
    return f"{what} ({scrub(shown)}); nothing was pushed or left behind: {advice}"


def _rejected_refs(answer: subprocess.CompletedProcess[bytes]) -> str:
    """The refspecs of the porcelain lines whose own reason is not the atomic push's failure."""
    return " ".join(
        line.split("\t")[1]
        for line in os.fsdecode(answer.stdout).splitlines()
        if line.startswith("!") and line.count("\t") >= 2 and "atomic" not in line
    )


def _undo(
    target: GitTarget, branch: str, commit: str, merge: str | None, follow_index: bool
) -> str | None:
    """Delete the new branch and put ``merge`` and the index entry back; what failed, if anything."""
    lines = [f"delete refs/heads/{branch} {commit}"]
    if merge is not None:
        lines.append(f"update refs/heads/{merge} {target.head} {commit}")
    problems = []
    answer = _run(target.top, ["update-ref", "--stdin"], stdin=("\n".join(lines) + "\n").encode())
    if answer.returncode != 0:
        put_back = f" and reset {merge} to {target.head[:12]}" if merge else ""
        problems.append(
            f"the local refs could not be put back ({_said(answer.stderr)}): delete branch "
            f"{branch}{put_back} by hand"
        )
    if follow_index:
        try:
            _set_index_entry(target, target.blob)
        except UsageError:
            problems.append(
                f"the index entry of {target.relative} could not be put back: run git reset -q -- {target.relative}"
            )
    return "; ".join(problems) or None
