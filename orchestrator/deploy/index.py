"""Which versions the hosts can install: the signed APT index of a publish target.

A deploy only picks a version apt on the hosts will find, so it reads what they read: the
channel's ``InRelease`` at the first publish target, verified with the project key by
``gpgv`` (as apt does), then the ``Packages`` index the Release names, checked against its
SHA256. Answers are bounded in size and time: the repository is not trusted to be small.
"""

from __future__ import annotations

import hashlib
import lzma
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

from orchestrator.errors import DeployError, UsageError
from orchestrator.remote.httpread import HttpFailure, exchange, get
from orchestrator.semver import precedence_key, semver_of_package

# The whole of one index file, however slowly the server sends it.
FETCH_DEADLINE = 300.0
MAX_INDEX_BYTES = 64 << 20
GPGV_TIMEOUT = 30.0
# Release times are a nicety of the page: a few seconds each, a few at a time.
TIME_DEADLINE = 10.0
TIME_REQUESTS = 8
TIME_BUDGET = 20.0
TIMED_VERSIONS = 50


@dataclass(frozen=True)
class Available:
    """A version every one of the environment's packages has in a channel.

    ``filename`` is where the first of those packages is, under the repository's ``deb/``.
    """

    installed_version: str
    channel: str
    filename: str = ""


class NotPublished(DeployError):
    """The repository has no such file: the channel was never published."""


def _fetch(url: str) -> bytes:
    try:
        answer = get(url, timeout=FETCH_DEADLINE, limit=MAX_INDEX_BYTES)
    except ValueError as error:  # not a URL of a repository
        raise UsageError(f"{url}: {error}; check the publish target's url") from None
    except HttpFailure as error:
        raise DeployError(f"{url}: cannot read the repository: {error}") from None
    if answer.status == 404:
        raise NotPublished(f"{url}: not found")
    if answer.status != 200:
        raise DeployError(f"{url}: the repository answered {answer.status}")
    if len(answer.body) > MAX_INDEX_BYTES:
        raise DeployError(f"{url}: larger than {MAX_INDEX_BYTES >> 20} MiB; not an index")
    return answer.body


def verified_release(in_release: bytes, armored_key: str, where: str) -> str:
    """The text of a clearsigned ``InRelease`` if ``armored_key`` signed it; DeployError if not."""
    with tempfile.TemporaryDirectory(prefix="orc-gpgv-") as work:
        keyring = Path(work) / "key.gpg"
        dearmor = subprocess.run(
            ["gpg", "--batch", "--no-options", "--homedir", work, "--dearmor"],
            input=armored_key.encode(),
            capture_output=True,
            timeout=GPGV_TIMEOUT,
            check=False,
        )
        if dearmor.returncode != 0 or not dearmor.stdout:
            raise UsageError("the project's public key is not an armored OpenPGP key")
        keyring.write_bytes(dearmor.stdout)
        result = subprocess.run(
            ["gpgv", "--homedir", work, "--keyring", str(keyring), "--output", "-", "-"],
            input=in_release,
            capture_output=True,
            timeout=GPGV_TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise DeployError(
            f"{where}: InRelease is not signed by the project key ({' '.join(detail)}); "
            "refusing to deploy from it"
        )
    return result.stdout.decode("utf-8", errors="replace")


def _sha256_of(release: str, name: str) -> str | None:
    # python-debian's deb822 is imported where an index is read: not by the task list.
    from debian import deb822

    section = deb822.Release(release).get("SHA256", [])
    for entry in section:
        if entry["name"] == name:
            return str(entry["sha256"])
    return None


def channel_versions(
    url: str, channel: str, arch: str, packages: Sequence[str], armored_key: str
) -> dict[str, str]:
    """The package versions of ``channel`` that every one of ``packages`` has for ``arch``.

    Each with the file of the first package, as the index names it.
    """
    dists = f"{url.rstrip('/')}/deb/dists/{channel}"
    where = f"{dists}/InRelease"
    try:
        signed = _fetch(where)
    except NotPublished:
        return {}  # nothing was ever released to this channel
    release = verified_release(signed, armored_key, where)
    name = f"main/binary-{arch}/Packages.xz"
    expected = _sha256_of(release, name)
    if expected is None:
        return {}
    compressed = _fetch(f"{dists}/{name}")
    if hashlib.sha256(compressed).hexdigest() != expected:
        raise DeployError(f"{dists}/{name}: does not match the signed Release; refusing it")
    try:
        text = lzma.LZMADecompressor().decompress(compressed, max_length=MAX_INDEX_BYTES)
    except lzma.LZMAError as error:
        raise DeployError(f"{dists}/{name}: not xz data ({error})") from None
    from debian import deb822  # see _sha256_of

    by_package: dict[str, dict[str, str]] = {name: {} for name in packages}
    for paragraph in deb822.Packages.iter_paragraphs(
        text.decode("utf-8", errors="replace"), use_apt_pkg=False
    ):
        package, version = paragraph.get("Package"), paragraph.get("Version")
        if package in by_package and version and paragraph.get("Architecture") in (arch, "all"):
            by_package[package][version] = paragraph.get("Filename", "")
    if not packages:
        return {}
    first, *others = (by_package[name] for name in packages)
    return {
        version: filename
        for version, filename in first.items()
        if all(version in other for other in others)
    }


def available_versions(
    url: str, channels: Sequence[str], arch: str, packages: Sequence[str], armored_key: str
) -> list[Available]:
    """Every version the environment's channels offer for all its packages."""
    found: list[Available] = []
    for channel in channels:
        versions = channel_versions(url, channel, arch, packages, armored_key)
        for version in sorted(versions):
            found.append(Available(version, channel, versions[version]))
    return found


def published_times(url: str, offered: Sequence[Available]) -> dict[str, datetime]:
    """When the repository began to serve each version: its package's ``Last-Modified``.

    Keyed by package version, in UTC. A package is written once and never rewritten, so
    the time the server gives for it is when it was added to the published tree. Only the
    newest :data:`TIMED_VERSIONS` are asked, all within :data:`TIME_BUDGET` seconds; a
    version whose server says nothing (readable) in time is left out.
    """
    base = f"{url.rstrip('/')}/deb/"

    def when(entry: Available) -> tuple[str, datetime | None]:
        if not entry.filename or not is_safe_filename(entry.filename):
            return entry.installed_version, None
        try:
            answer = exchange("HEAD", base + quote(entry.filename), timeout=TIME_DEADLINE, limit=0)
            stamp = answer.headers.get("last-modified") if answer.status == 200 else None
            if not stamp:
                return entry.installed_version, None
            parsed = parsedate_to_datetime(stamp)
            # RFC 5322's "-0000" means UTC with no zone known: Python leaves it naive.
            utc = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
            return entry.installed_version, utc.astimezone(UTC)
        except (HttpFailure, ValueError, TypeError, OverflowError):
            return entry.installed_version, None

    releases = {entry: semver_of_package(entry.installed_version) for entry in offered}
    newest = sorted(
        (entry for entry, version in releases.items() if version is not None),
        key=lambda entry: precedence_key(str(releases[entry])),
        reverse=True,
    )[:TIMED_VERSIONS]
    pool = ThreadPoolExecutor(max_workers=TIME_REQUESTS, thread_name_prefix="published-at")
    futures = [pool.submit(when, entry) for entry in newest]
    done, _ = wait(futures, timeout=TIME_BUDGET)
    # Requests still waiting end at their own deadline (TIME_DEADLINE); the page is made
    # without them.
    pool.shutdown(wait=False, cancel_futures=True)
    found = dict(future.result() for future in done)
    return {version: stamp for version, stamp in found.items() if stamp is not None}


def is_safe_filename(filename: str) -> bool:
    """Whether an index's ``Filename`` stays under ``deb/`` (the index is the server's word)."""
    parts = filename.split("/")
    return parts[0] == "pool" and all(part and part not in (".", "..") for part in parts)
