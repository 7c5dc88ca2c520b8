"""Checking one published repository with real clients, as a fresh machine would use it.

For every channel: ``apt-get update`` trusting only the published key (``signed-by``), then
``apt-get download`` of the expected package for each architecture (apt checks it against
the signed indexes); ``dnf makecache`` with ``gpgcheck=1`` and ``repo_gpgcheck=1`` for each
architecture, then the package's signature checked by rpm against the published key;
``zypper refresh`` with only that key in its rpm database.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.verify.clients import AptClient, DnfClient, ZypperClient, run
from orchestrator.verify.expectations import (
    Expectations,
    apt_sources,
    deb_versions,
    pick_deb_version,
    repoquery_locations,
    rpm_repo_file,
    rpm_spec,
)
from orchestrator.verify.table import CheckResult

FETCH_TIMEOUT = 60.0


def fetch(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination``; OSError (HTTPError, URLError) on failure."""
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
        destination.write_bytes(response.read())


def exists(url: str) -> bool:
    """Whether ``url`` answers a GET with 200."""
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _problem(result: subprocess.CompletedProcess[str]) -> str:
    lines = [
        line.strip()
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip().startswith(("E:", "W:", "Error", "error")) or "FAILED" in line
    ]
    fallback = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1:]
    return " | ".join((lines or fallback)[:3])


def _warned(result: subprocess.CompletedProcess[str]) -> bool:
    return any(
        line.startswith(("W:", "E:")) for line in (result.stdout + result.stderr).splitlines()
    )


@dataclass
class RepositoryCheck:
    """The checks of one repository at ``url``, with keys fetched into ``work``."""

    name: str
    url: str
    expect: Expectations
    work: Path

    def result(self, client: str, channel: str, arch: str, ok: bool, detail: str) -> CheckResult:
        """A result row of this repository."""
        return CheckResult(self.name, client, channel, arch, ok, detail)

    def apt(self, channel: str, keyring: Path) -> list[CheckResult]:
        """apt-get update, then download the package for each architecture."""
        arches = self.expect.deb_arches
        client = AptClient(self.work / f"apt-{channel}", arches)
        update = client("update", sources=apt_sources(self.url, channel, str(keyring), arches))
        if update.returncode != 0 or _warned(update):
            return [self.result("apt", channel, arch, False, _problem(update)) for arch in arches]
        return [self._apt_download(client, channel, arch) for arch in arches]

    def _apt_download(self, client: AptClient, channel: str, arch: str) -> CheckResult:
        package = f"{self.expect.project}:{arch}"
        if self.expect.version is not None:
            versions = deb_versions(client.cache_show(package).stdout)
            chosen = pick_deb_version(versions, self.expect.version)
            if chosen is None:
                listed = ", ".join(versions) or "none"
                return self.result(
                    "apt", channel, arch, False, f"no {self.expect.version} (offered: {listed})"
                )
            package = f"{package}={chosen}"
        before = set(client.root.glob("*.deb"))
        download = client("download", package)
        fetched = sorted(set(client.root.glob("*.deb")) - before)
        if download.returncode != 0 or not fetched:
            return self.result("apt", channel, arch, False, _problem(download))
        return self.result("apt", channel, arch, True, f"downloaded {fetched[0].name}")

    def dnf(self, channel: str, armored_key: Path) -> list[CheckResult]:
        """Dnf makecache with signature checks, then the package's signature, per arch."""
        client = DnfClient(self.work / f"dnf-{channel}", self.expect.project)
        try:
            return [
                self._dnf_arch(client, channel, arch, armored_key)
                for arch in self.expect.rpm_arches
            ]
        finally:
            client.close()

    def _dnf_arch(
        self, client: DnfClient, channel: str, arch: str, armored_key: Path
    ) -> CheckResult:
        repo = rpm_repo_file(self.url, self.expect.project, channel)
        cache = client(arch, repo, "makecache")
        if cache.returncode != 0:
            return self.result("dnf", channel, arch, False, _problem(cache))
        spec = rpm_spec(self.expect.project, self.expect.version)
        query = client(arch, repo, "repoquery", "--location", "--latest-limit", "1", spec)
        locations = repoquery_locations(query.stdout)
        if query.returncode != 0 or not locations:
            return self.result("dnf", channel, arch, False, f"no package {spec} for {arch}")
        package = self.work / locations[0].rsplit("/", 1)[-1]
        try:
            fetch(locations[0], package)
        except OSError as error:
            return self.result("dnf", channel, arch, False, f"{locations[0]}: {error}")
        rpmdb = client.installroot(arch)
        run(["rpm", "--root", str(rpmdb), "--initdb"])
        run(["rpmkeys", "--root", str(rpmdb), "--import", str(armored_key)])
        checked = run(["rpmkeys", "--root", str(rpmdb), "--checksig", str(package)])
        if checked.returncode != 0 or "signatures OK" not in checked.stdout:
            return self.result("dnf", channel, arch, False, f"signature: {checked.stdout.strip()}")
        return self.result("dnf", channel, arch, True, f"metadata and {package.name} signed")

    def zypper(self, channel: str, armored_key: Path) -> CheckResult:
        """Zypper refresh with only the published key trusted."""
        arch = platform.machine()
        client = ZypperClient(self.work / f"zypper-{channel}")
        repo_file = self.work / f"{self.expect.project}-{channel}.repo"
        repo_file.write_text(rpm_repo_file(self.url, self.expect.project, channel))
        added = client("addrepo", str(repo_file), key=armored_key)
        if added.returncode != 0:
            return self.result("zypper", channel, arch, False, _problem(added))
        refreshed = client("refresh")
        if refreshed.returncode != 0:
            return self.result("zypper", channel, arch, False, _problem(refreshed))
        return self.result("zypper", channel, arch, True, "refreshed with signature checks")

    def _published(self, channel: str) -> tuple[bool, bool]:
        """Whether the channel has an APT suite and RPM trees at this URL."""
        if self.expect.explicit_channels:
            return bool(self.expect.deb_arches), bool(self.expect.rpm_arches)
        deb = bool(self.expect.deb_arches) and exists(f"{self.url}/deb/dists/{channel}/InRelease")
        rpm = any(
            exists(f"{self.url}/rpm/{channel}/{arch}/repodata/repomd.xml")
            for arch in self.expect.rpm_arches
        )
        return deb, rpm

    def run(self) -> list[CheckResult]:
        """Every check of this repository."""
        project = self.expect.project
        keyring, armored = self.work / f"{project}.gpg", self.work / f"{project}.asc"
        try:
            fetch(f"{self.url}/keys/{project}.gpg", keyring)
            fetch(f"{self.url}/keys/{project}.asc", armored)
        except OSError as error:
            return [self.result("-", "-", "-", False, f"cannot fetch the published key: {error}")]
        results: list[CheckResult] = []
        for channel in self.expect.channels:
            has_deb, has_rpm = self._published(channel)
            if has_deb:
                results += self.apt(channel, keyring)
            if has_rpm:
                results += self.dnf(channel, armored)
                results.append(self.zypper(channel, armored))
        if not results:
            results.append(self.result("-", "-", "-", False, "no channel is published here"))
        return results


@contextmanager
def workspace() -> Iterator[Path]:
    """A throwaway directory for client roots and keys, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="orchestrator-verify-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def check_repository(name: str, url: str, expect: Expectations) -> list[CheckResult]:
    """Run every check of the repository at ``url``, in a throwaway directory."""
    with workspace() as work:
        return RepositoryCheck(name, url.rstrip("/"), expect, work).run()
