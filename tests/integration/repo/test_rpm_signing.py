"""Signing RPMs with one gpg-agent per core: real rpmsign, real agents, rpmkeys checks."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.config.repositories import SigningConfig
from orchestrator.errors import SigningError
from orchestrator.repo.build import add_packages
from orchestrator.repo.gpghomes import sweep_stale_homes, temporary_home, wipe_keyring
from orchestrator.repo.options import RepoOptions
from orchestrator.repo.signing import Signer, open_signer
from tests.integration.conftest import Keyring, SandboxWorld

pytestmark = pytest.mark.integration

Nfpm = Callable[[str, str, str, str], Path]
OPTIONS = RepoOptions(project="demo", origin="Example", label="Demo", base_url="http://127.0.0.1:9")


def linked_homes(source: Path) -> list[Path]:
    """The homes made for extra agents of the key in ``source`` (their key dir links there)."""
    return [
        home
        for home in Path("/tmp").glob("orc-gpg-*")
        if (home / "private-keys-v1.d").is_symlink()
        and (home / "private-keys-v1.d").resolve() == (source / "private-keys-v1.d").resolve()
    ]


def agents_running_in(home: Path) -> bool:
    """Whether a gpg-agent process serves ``home``."""
    listed = subprocess.run(["pgrep", "-af", "gpg-agent"], capture_output=True, text=True)
    return f"--homedir {home} " in listed.stdout + " "


def unsigned_rpms(nfpm: Nfpm, tmp_path: Path, count: int) -> list[Path]:
    """``count`` fresh, unsigned copies of RPMs (rpmsign changes files in place)."""
    directory = tmp_path / "incoming"
    directory.mkdir()
    copies = []
    for i in range(count):
        built = nfpm(f"7.0.{i}", "x86_64", "rpm", "signing")
        copies.append(Path(shutil.copy(built, directory / built.name)))
    return copies


def verified(rpms: list[Path], public_key: str, tmp_path: Path) -> list[str]:
    """``rpmkeys --checksig`` of each package, against a database that trusts only the key."""
    database = tmp_path / "rpmdb"
    key = tmp_path / "key.asc"
    key.write_text(public_key)
    rpmkeys = ["rpmkeys", "--dbpath", str(database)]
    subprocess.run([*rpmkeys, "--import", str(key)], check=True)
    checked = subprocess.run(
        [*rpmkeys, "--checksig", *map(str, rpms)], capture_output=True, text=True, check=False
    )
    return checked.stdout.splitlines()


@pytest.fixture
def two_agent_signer(keyring: Keyring) -> Iterator[Signer]:
    """The repository key with two agents, whatever the cores of the machine running tests."""
    signer = Signer(keyring.home, keyring.key.fingerprint, None, agents=2)
    try:
        yield signer
    finally:
        signer.close()


def test_rpms_are_shared_out_among_agents_and_every_signature_verifies(
    two_agent_signer: Signer, keyring: Keyring, nfpm: Nfpm, tmp_path: Path
) -> None:
    rpms = unsigned_rpms(nfpm, tmp_path, 4)
    key_files = sorted(path.name for path in (keyring.home / "private-keys-v1.d").iterdir())
    # The session's own signer may have an extra agent for this key already.
    before = set(linked_homes(keyring.home))
    with two_agent_signer.signing_rpms(rpms):
        pass
    (extra,) = set(linked_homes(keyring.home)) - before
    assert agents_running_in(extra)
    assert verified(rpms, two_agent_signer.public_key, tmp_path) == [
        f"{rpm}: digests signatures OK" for rpm in rpms
    ]
    two_agent_signer.close()
    # The extra home and its agent are gone; the key itself is untouched.
    assert set(linked_homes(keyring.home)) == before
    assert not extra.exists() and not agents_running_in(extra)
    assert sorted(p.name for p in (keyring.home / "private-keys-v1.d").iterdir()) == key_files


def _protected_key(home: Path, passphrase: str) -> str:
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
    subprocess.run(
        [*gpg, "--passphrase", passphrase, "--quick-gen-key", "Locked <l@example.org>",
         "ed25519", "sign", "1y"],
        check=True, capture_output=True,
    )  # fmt: skip
    listing = subprocess.run(
        [*gpg, "--with-colons", "--list-secret-keys"], check=True, capture_output=True, text=True
    ).stdout
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))


def test_an_agent_without_the_passphrase_hands_its_packages_back(
    nfpm: Nfpm, tmp_path: Path
) -> None:
    home = temporary_home()
    try:
        fingerprint = _protected_key(home, "right")
        # Only the key's own agent knows the passphrase (as after a user unlocked it once).
        subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
             "--passphrase", "right", "-u", fingerprint, "--detach-sign", "-o", "/dev/null"],
            input=b"unlock", check=True, capture_output=True,
        )  # fmt: skip
        rpms = unsigned_rpms(nfpm, tmp_path, 2)
        signer = Signer(home, fingerprint, None, agents=2)
        try:
            with signer.signing_rpms(rpms):
                pass
            assert linked_homes(home) == []  # given up at once, not at the end
            assert verified(rpms, signer.public_key, tmp_path) == [
                f"{rpm}: digests signatures OK" for rpm in rpms
            ]
        finally:
            signer.close()
    finally:
        wipe_keyring(home)


def test_a_wrong_passphrase_for_rpms_alone_is_gpgs_clear_error(nfpm: Nfpm, tmp_path: Path) -> None:
    home = temporary_home()
    try:
        fingerprint = _protected_key(home, "right")
        config = SigningConfig(fingerprint=fingerprint, gnupghome=str(home))
        rpms = unsigned_rpms(nfpm, tmp_path, 2)
        repo = tmp_path / "repo"
        wrong = {"ORCHESTRATOR_SIGNING_PASSPHRASE": "wrong"}
        with (
            pytest.raises(SigningError, match=r"could not sign .*passphrase variable"),
            open_signer(config, environ=wrong) as signer,
        ):
            add_packages(rpms, repo, "stable", OPTIONS, signer)
        assert not list((repo / "rpm").rglob("*.rpm"))
        assert linked_homes(home) == []
    finally:
        wipe_keyring(home)


def test_a_missing_rpmsign_is_a_clear_error(
    two_agent_signer: Signer, nfpm: Nfpm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rpms = unsigned_rpms(nfpm, tmp_path, 2)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with (
        pytest.raises(SigningError, match="rpmsign is not installed"),
        two_agent_signer.signing_rpms(rpms),
    ):
        pass


def files_holding(secret: bytes) -> list[Path]:
    """Files under the tool's temporary directories whose content holds ``secret``.

    Other runs' directories come and go while they are read (the suite runs in parallel
    workers): what vanishes meanwhile held nothing of this test's.
    """
    found = []
    for top in Path("/tmp").glob("orc-*"):
        # os.walk skips a directory that is gone by the time it is listed.
        for directory, _, names in os.walk(top):
            for path in (Path(directory, name) for name in names):
                with contextlib.suppress(OSError):
                    if not path.is_symlink() and path.is_file() and secret in path.read_bytes():
                        found.append(path)
    return found


def test_the_passphrase_never_reaches_a_file(nfpm: Nfpm, tmp_path: Path) -> None:
    passphrase = "canary-passphrase-4f1c"
    home = temporary_home()
    try:
        fingerprint = _protected_key(home, passphrase)
        rpms = unsigned_rpms(nfpm, tmp_path, 4)
        signer = Signer(home, fingerprint, passphrase, agents=2)
        try:
            with signer.signing_rpms(rpms):
                # rpmsign runs now: what a kill -9 at this moment would leave behind.
                assert files_holding(passphrase.encode()) == []
            assert verified(rpms, signer.public_key, tmp_path) == [
                f"{rpm}: digests signatures OK" for rpm in rpms
            ]
        finally:
            signer.close()
    finally:
        wipe_keyring(home)


KILLED_SIGNER = """
import os, signal, subprocess, sys
from orchestrator.repo.gpghomes import temporary_home
home = temporary_home()
subprocess.run(["gpg-connect-agent", "--homedir", str(home), "/bye"], check=True,
               capture_output=True)
print(home, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_keyring_of_a_killed_run_is_swept_with_its_agent(sandbox_world: SandboxWorld) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_SIGNER], capture_output=True, text=True, check=False
    )
    assert killed.returncode == -9, killed.stderr
    stale = Path(killed.stdout.strip())
    assert stale.is_dir() and agents_running_in(stale)
    live = temporary_home()  # this process's own: never swept while it runs
    try:
        result = sandbox_world.invoke("teardown")
        assert result.returncode == 0, result.stderr
        # Gone with its agent. Every signer that opens sweeps first, so with other runs on
        # this machine (the suite's other workers) one of them may have wiped it before
        # teardown could: which process wiped it is not asked.
        assert not stale.exists() and not agents_running_in(stale)
        assert live.is_dir()
        assert live not in sweep_stale_homes()
    finally:
        wipe_keyring(live)
