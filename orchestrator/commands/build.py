"""Builders for the shell commands a build host runs.

Every builder is pure and returns one command string, quoted with :func:`shlex.quote`
where a value comes from outside, so the exact commands can be planned, printed and
tested before anything runs (as Kamal's ``commands/`` do).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

SOURCE_ARCHIVE = "source.tar.gz"
# What an image target's build leaves in the source tree: the image, as docker save wrote it.
IMAGE_ARCHIVE = "relorch-image.tar"
IMAGE_ID = "relorch-image.id"
ARTIFACT_ARCHIVE = "artifacts.tar.gz"
CHECKSUMS = "SHA256SUMS"


def workdir_for(run_id: str, target: str) -> str:
    """The per-run, per-target work directory, relative to the login user's home."""
    return f".relorch/{run_id}/{target}"


def prepare(workdir: str) -> str:
    """Start from an empty work directory, so nothing from an earlier run leaks in."""
    quoted = shlex.quote(workdir)
    return f"rm -rf {quoted} && mkdir -p {quoted}/src"


def unpack(workdir: str) -> str:
    """Unpack the uploaded source archive into ``<workdir>/src``."""
    quoted = shlex.quote(workdir)
    return f"tar -xzf {quoted}/{SOURCE_ARCHIVE} -C {quoted}/src"


# sshd runs a command as one argument of the login shell (``sh -c COMMAND``), and Linux
# refuses any single argument over MAX_ARG_STRLEN (32 pages: 131072 bytes with its NUL).
MAX_REMOTE_COMMAND_BYTES = 131071


def build(workdir: str, command: str, environment: Mapping[str, str], timeout: float) -> str:
    """Run the rendered build ``command`` in the source tree with ``environment`` and a timeout.

    It runs on a pty, in the session's foreground process group (``--foreground`` keeps
    ``timeout`` from moving it elsewhere), so when the SSH session ends for any reason
    the kernel hangs up the whole build: no orphaned build survives its session. The
    host-side timeout also holds if the orchestrator disappears.
    """
    assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in environment.items())
    seconds = max(1, int(timeout))
    return (
        f"cd {shlex.quote(workdir)}/src && env {assignments} "
        f"timeout --foreground --kill-after=10 {seconds} sh -c {shlex.quote(command)}"
    )


def tests(
    workdir: str, commands: Iterable[str], environment: Mapping[str, str], timeout: float
) -> str:
    """Run the test ``commands`` one after the other in the source tree, as a build runs.

    Each runs in a shell of its own (a ``cd`` or an ``exit`` in one does not reach the
    next); the first that fails ends the chain with its status. One host-side timeout bounds
    them all, and on a pty a test that hangs ends with its session, as a build does.
    """
    chain = " && ".join(f"sh -c {shlex.quote(command)}" for command in commands)
    return build(workdir, chain, environment, timeout)


def image_build(
    workdir: str,
    *,
    dockerfile: str,
    context: str,
    platform: str,
    labels: Mapping[str, str],
    timeout: float,
) -> str:
    """Build the image with the host's Docker, save it as IMAGE_ARCHIVE, then drop it.

    The labels are the release's, set here. The image is saved by the id the build wrote
    (``--iidfile``), never by a name: on an engine shared with other builds (the sandbox's)
    a name could be pointed at another image meanwhile, an id cannot. The host keeps no
    image afterwards (a static host outlives the run). Every value is quoted; the host's
    own timeout bounds it all.
    """
    label_flags = " ".join(f"--label {shlex.quote(f'{k}={v}')}" for k, v in labels.items())
    script = (
        f"docker build --platform {shlex.quote(platform)} -f {shlex.quote(dockerfile)} "
        f"{label_flags} --iidfile {IMAGE_ID} {shlex.quote(context)} && "
        f'image=$(cat {IMAGE_ID}) && docker save -o {IMAGE_ARCHIVE} "$image"; status=$?; '
        f'[ -s {IMAGE_ID} ] && docker image rm "$(cat {IMAGE_ID})" >/dev/null 2>&1; exit $status'
    )
    seconds = max(1, int(timeout))
    return (
        f"cd {shlex.quote(workdir)}/src && rm -f {IMAGE_ARCHIVE} {IMAGE_ID} && "
        f"timeout --foreground --kill-after=10 {seconds} sh -c {shlex.quote(script)}"
    )


def collect(workdir: str, globs: Iterable[str]) -> str:
    """Match ``globs`` in the source tree, checksum the files and bundle them into one archive.

    The globs are validated by the inventory (no spaces, quotes or ``..``) and stay
    unquoted on purpose: the remote shell expands them.
    """
    patterns = " ".join(globs)
    script = (
        "shopt -s nullglob globstar; "
        f"files=({patterns}); "
        "if [ ${#files[@]} -eq 0 ]; then "
        f'echo "no file matches the artifact globs: {patterns}" >&2; exit 3; fi; '
        f'sha256sum -- "${{files[@]}}" > ../{CHECKSUMS} && '
        f'tar -czf ../{ARTIFACT_ARCHIVE} -C .. {CHECKSUMS} -C src -- "${{files[@]}}"'
    )
    return f"cd {shlex.quote(workdir)}/src && bash -c {shlex.quote(script)}"


def fetch_bundle(workdir: str) -> str:
    """Write the artifact bundle to standard output, for the orchestrator to read as a stream."""
    return f"cat -- {shlex.quote(workdir)}/{ARTIFACT_ARCHIVE}"


def cleanup(workdir: str) -> str:
    """Remove the work directory (static hosts outlive the run)."""
    return f"rm -rf {shlex.quote(workdir)}"


def source_archive(repository: str, ref: str, output: str) -> str:
    """The local command that exports the source tree of ``ref`` as a gzipped tarball."""
    return (
        f"git -C {shlex.quote(repository)} archive --format=tar.gz "
        f"--output={shlex.quote(output)} {shlex.quote(ref)}"
    )
