"""Building, re-signing and pruning trees: atomicity, refusals, keys and the tasks."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.program import Program

from orchestrator.cli import keys_tasks, repo_tasks
from orchestrator.config.repositories import RetentionOptions, SigningConfig
from orchestrator.errors import RepositoryError, SigningError, UsageError
from orchestrator.repo.build import add_packages, find_packages, plan_prune, prune, resign
from orchestrator.repo.gpghomes import temporary_home, wipe_keyring
from orchestrator.repo.layout import PUBLISHED
from orchestrator.repo.options import RepoOptions
from orchestrator.repo.pruned import pruned_files
from orchestrator.repo.signing import Signer, open_signer
from tests.integration.conftest import ROOT, Keyring, build_set

pytestmark = pytest.mark.integration

Nfpm = Callable[[str, str, str, str], Path]
OPTIONS = RepoOptions(project="demo", origin="Example", label="Demo", base_url="http://127.0.0.1:9")


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Content and mtime of every published file, to prove a tree was left alone."""
    files: dict[str, tuple[str, int]] = {}
    for top in PUBLISHED:
        for path in [root / top, *(root / top).rglob("*")]:
            if path.is_file():
                files[str(path.relative_to(root))] = (
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                    path.stat().st_mtime_ns,
                )
    return files


@pytest.fixture
def tree(tmp_path: Path, nfpm: Nfpm, signer: Signer) -> Path:
    root = tmp_path / "repo"
    add_packages(build_set(nfpm, "1.0.0"), root, "stable", OPTIONS, signer)
    return root


def test_a_file_that_is_not_a_package_changes_nothing(
    tree: Path, tmp_path: Path, nfpm: Nfpm, signer: Signer
) -> None:
    before = snapshot(tree)
    bogus = tmp_path / "bogus.deb"
    bogus.write_bytes(b"not a package")
    good = build_set(nfpm, "2.0.0")
    with pytest.raises(RepositoryError, match=r"bogus\.deb is not a valid \.deb"):
        add_packages([*good, bogus], tree, "stable", OPTIONS, signer)
    assert snapshot(tree) == before


def test_same_version_with_different_content_is_refused(
    tree: Path, tmp_path: Path, nfpm: Nfpm, signer: Signer
) -> None:
    before = snapshot(tree)
    original = next(p for p in build_set(nfpm, "1.0.0") if p.name.endswith("amd64.deb"))
    rebuilt = tmp_path / "rebuilt" / original.name
    rebuilt.parent.mkdir()
    # Same name, version and architecture, different bytes: as a second build would be.
    data = bytearray(original.read_bytes())
    data[-1] ^= 0xFF
    rebuilt.write_bytes(bytes(data))
    new_version = build_set(nfpm, "3.0.0")
    with pytest.raises(RepositoryError, match="already in the repository with different content"):
        add_packages([*new_version, rebuilt], tree, "stable", OPTIONS, signer)
    assert snapshot(tree) == before
    assert not list(tree.rglob("demo_3.0.0*"))


def test_a_signing_failure_leaves_the_tree_as_it_was(
    tree: Path, nfpm: Nfpm, signer: Signer
) -> None:
    class Failing(Signer):
        def sign_release(self, release: bytes) -> tuple[bytes, bytes]:
            raise SigningError("gpg could not sign: test")

    failing = Failing(signer.gnupghome, signer.fingerprint, None)
    before = snapshot(tree)
    with pytest.raises(SigningError):
        add_packages(build_set(nfpm, "4.0.0"), tree, "stable", OPTIONS, failing)
    assert snapshot(tree) == before
    assert not list(tree.rglob("*4.0.0*"))
    assert not [p for p in tree.rglob(".*.new")]


def test_adding_identical_packages_again_writes_nothing(
    tree: Path, nfpm: Nfpm, signer: Signer
) -> None:
    before = snapshot(tree)
    change = add_packages(build_set(nfpm, "1.0.0"), tree, "stable", OPTIONS, signer)
    assert change.added == [] and change.rewritten == [] and len(change.skipped_identical) == 4
    assert snapshot(tree) == before


def test_client_files_are_rendered_again_only_when_their_inputs_change(
    tree: Path, nfpm: Nfpm, signer: Signer
) -> None:
    landing = tree / "index.html"
    sources = tree / "deb/demo-stable.sources"
    mtime = landing.stat().st_mtime_ns
    change = add_packages(build_set(nfpm, "1.2.0"), tree, "stable", OPTIONS, signer)
    assert not [path for path in change.rewritten if not path.startswith(("deb/dists", "rpm/"))]
    assert landing.stat().st_mtime_ns == mtime

    sources.unlink()
    change = add_packages(build_set(nfpm, "1.3.0"), tree, "stable", OPTIONS, signer)
    assert "deb/demo-stable.sources" in change.rewritten and sources.is_file()

    renamed = OPTIONS.model_copy(update={"label": "Demo Packages"})
    change = add_packages(build_set(nfpm, "1.4.0"), tree, "stable", renamed, signer)
    assert "index.html" in change.rewritten
    assert "Demo Packages" in landing.read_text()


def test_a_lost_cache_is_rebuilt(tree: Path, nfpm: Nfpm, signer: Signer) -> None:
    shutil.rmtree(tree / ".state")
    change = add_packages(build_set(nfpm, "1.1.0"), tree, "stable", OPTIONS, signer)
    assert len(change.added) == 4
    packages = (tree / "deb/dists/stable/main/binary-arm64/Packages").read_text()
    assert "Version: 1.0.0-1" in packages and "Version: 1.1.0-1" in packages


def test_resign_refreshes_dates_and_keeps_indexes(tree: Path, signer: Signer) -> None:
    index = tree / "deb/dists/stable/main/binary-amd64/Packages.xz"
    inode = index.stat().st_ino
    later = datetime.now(UTC) + timedelta(days=2)
    resign(tree, OPTIONS, signer, now=later)
    release = (tree / "deb/dists/stable/Release").read_text()
    assert f"Date: {later:%a, %d %b %Y}" in release
    assert f"Valid-Until: {later + timedelta(days=30):%a, %d %b %Y}" in release
    assert index.stat().st_ino == inode
    keyring = tree / "keys/demo.gpg"
    for args in (["InRelease"], ["Release.gpg", "Release"]):
        verified = subprocess.run(
            ["gpgv", "--keyring", str(keyring), *args],
            cwd=tree / "deb/dists/stable", capture_output=True, check=False,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr
    asc = tree / "rpm/stable/x86_64/repodata/repomd.xml.asc"
    verified = subprocess.run(
        ["gpgv", "--keyring", str(keyring), str(asc), str(asc.with_suffix(""))], check=False
    )
    assert verified.returncode == 0


@pytest.mark.parametrize(
    "release",
    [
        b"Origin: Example\nSHA256:\n 0f 12 main/binary-amd64/Packages\n",
        # Text an inline signature would change: signed twice, both still verify.
        b"Origin: Example \n-Label: dashed\n",
        b"Origin: Example",
    ],
)
def test_one_signature_serves_release_gpg_and_inrelease(
    signer: Signer, tmp_path: Path, release: bytes
) -> None:
    detached, inline = signer.sign_release(release)
    keyring = tmp_path / "key.gpg"
    keyring.write_bytes(signer.public_key_binary)
    (tmp_path / "Release").write_bytes(release)
    (tmp_path / "Release.gpg").write_bytes(detached)
    (tmp_path / "InRelease").write_bytes(inline)
    gpgv = ["gpgv", "--keyring", str(keyring)]
    checked = subprocess.run([*gpgv, "Release.gpg", "Release"], cwd=tmp_path, capture_output=True)
    assert checked.returncode == 0, checked.stderr
    signed = subprocess.run(
        [*gpgv, "--output", "-", "InRelease"], cwd=tmp_path, capture_output=True
    )
    assert signed.returncode == 0, signed.stderr
    # What apt reads from InRelease: the Release text (gpg drops trailing blanks of lines).
    text = [line.rstrip() for line in signed.stdout.rstrip(b"\n").splitlines()]
    assert text == [line.rstrip() for line in release.splitlines()]
    tampered = inline.replace(b"Origin: Example", b"Origin: Exampl3")
    (tmp_path / "InRelease").write_bytes(tampered)
    assert subprocess.run([*gpgv, "InRelease"], cwd=tmp_path, capture_output=True).returncode


def test_prune_keeps_the_last_n(tree: Path, nfpm: Nfpm, signer: Signer) -> None:
    add_packages(build_set(nfpm, "1.1.0"), tree, "stable", OPTIONS, signer)
    options = OPTIONS.model_copy(update={"retention": RetentionOptions(keep_last=1)})
    planned = plan_prune(tree, options)
    assert sorted(item.path for item in planned) == [
        "deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb",
        "deb/pool/main/d/demo/demo_1.0.0-1_arm64.deb",
        "rpm/stable/aarch64/packages/demo-1.0.0-1.aarch64.rpm",
        "rpm/stable/x86_64/packages/demo-1.0.0-1.x86_64.rpm",
    ]
    assert (tree / planned[0].path).exists()
    assert prune(tree, options, signer) == planned
    for item in planned:
        assert not (tree / item.path).exists()
    assert "1.0.0" not in (tree / "deb/dists/stable/main/binary-amd64/Packages").read_text()
    assert plan_prune(tree, options) == []
    # Publishing may remove what was pruned; adding a package again takes it off the record.
    assert pruned_files(tree) == {item.path for item in planned}
    add_packages(build_set(nfpm, "1.0.0"), tree, "stable", OPTIONS, signer)
    assert pruned_files(tree) == set()


def test_missing_keys_are_refused_before_anything_is_built(keyring: Keyring) -> None:
    with (
        pytest.raises(SigningError, match=r"no signing key: set \$ORCHESTRATOR_SIGNING_KEY"),
        open_signer(SigningConfig(), environ={}),
    ):
        pass
    config = SigningConfig(fingerprint="A" * 40, gnupghome=str(keyring.home))
    with pytest.raises(SigningError, match="no secret key"), open_signer(config):
        pass


def _generate(home: Path, *args: str, faked_time: str | None = None, passphrase: str = "") -> str:
    extra = [f"--faked-system-time={faked_time}"] if faked_time else []
    subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
         "--passphrase", passphrase, *extra, *args],
        check=True, capture_output=True,
    )  # fmt: skip
    listing = subprocess.run(
        ["gpg", "--homedir", str(home), "--with-colons", "--list-secret-keys"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")][-1]


@pytest.mark.parametrize(
    ("args", "faked_time", "message"),
    [
        (["--quick-gen-key", "Soon <s@example.org>", "rsa2048", "sign", "5d"], None, "within 14 days"),
        (["--quick-gen-key", "Old <o@example.org>", "rsa2048", "sign", "1d"], "20200101T000000!", "expired"),
        (["--cert-digest-algo", "SHA1", "--quick-gen-key", "Weak <w@example.org>", "rsa2048", "sign", "1y"], None, "SHA-1"),
    ],
)  # fmt: skip
def test_unsafe_keys_are_refused(args: list[str], faked_time: str | None, message: str) -> None:
    home = temporary_home()
    try:
        fingerprint = _generate(home, *args, faked_time=faked_time)
        config = SigningConfig(fingerprint=fingerprint, gnupghome=str(home))
        with pytest.raises(SigningError, match=message), open_signer(config):
            pass
    finally:
        wipe_keyring(home)


def test_a_wrong_passphrase_fails_signing_and_changes_nothing(tree: Path, nfpm: Nfpm) -> None:
    home = temporary_home()
    try:
        fingerprint = _generate(
            home, "--quick-gen-key", "Locked <l@example.org>", "ed25519", "sign", "1y",
            passphrase="right",
        )  # fmt: skip
        config = SigningConfig(fingerprint=fingerprint, gnupghome=str(home))
        wrong = {"ORCHESTRATOR_SIGNING_PASSPHRASE": "wrong"}
        failing = pytest.raises(SigningError, match="could not sign")
        with failing, open_signer(config, environ=wrong) as signer:
            signer.prove()
        # A block that never signs still learns of it when it ends.
        with failing, open_signer(config, environ=wrong):
            pass
        before = snapshot(tree)
        with failing, open_signer(config, environ=wrong) as signer:
            add_packages(build_set(nfpm, "5.0.0"), tree, "stable", OPTIONS, signer)
        assert snapshot(tree) == before
        assert not list(tree.rglob("*5.0.0*"))
        right = {"ORCHESTRATOR_SIGNING_PASSPHRASE": "right"}
        with open_signer(config, environ=right) as signer:
            assert signer.detach_sign(b"data").startswith(b"-----BEGIN PGP SIGNATURE-----")
    finally:
        wipe_keyring(home)


def test_a_key_from_the_environment_is_used_and_wiped(keyring: Keyring, tmp_path: Path) -> None:
    secret = subprocess.run(
        ["gpg", "--homedir", str(keyring.home), "--batch", "--armor",
         "--export-secret-keys", keyring.key.fingerprint],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    environ = {"ORCHESTRATOR_SIGNING_KEY": secret}
    with open_signer(SigningConfig(), environ=environ) as env_signer:
        home = env_signer.gnupghome
        assert home is not None and home.is_dir()
        assert env_signer.fingerprint == keyring.key.fingerprint
        signature = env_signer.detach_sign(b"data")
    assert signature.startswith(b"-----BEGIN PGP SIGNATURE-----")
    assert not home.exists()
    with pytest.raises(RuntimeError), open_signer(SigningConfig(), environ=environ) as env_signer:
        home = env_signer.gnupghome
        raise RuntimeError("build failed")
    assert home is not None and not home.exists()


def _inventory(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    data["project"]["name"] = "demo"
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _program() -> Program:
    return Program(namespace=Collection(repo_tasks.namespace, keys_tasks.namespace), binary="inv")


def test_tasks_build_prune_and_generate(
    tmp_path: Path, nfpm: Nfpm, keyring: Keyring, capsys: pytest.CaptureFixture[str]
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    for path in build_set(nfpm, "1.0.0") + build_set(nfpm, "1.1.0"):
        shutil.copy(path, packages)
    repo = tmp_path / "repo"
    key = ["--key", keyring.key.fingerprint, "--gnupghome", str(keyring.home)]
    common = ["--repo", str(repo), "--inventory", str(_inventory(tmp_path)), *key]
    _program().run(["inv", "repo.build", "--packages", str(packages), *common], exit=False)
    assert "8 added, 0 already present" in capsys.readouterr().out
    assert len(find_packages(repo / "deb")) == 4
    _program().run(["inv", "repo.prune", "--keep-last", "1", "--dry-run", *common], exit=False)
    out = capsys.readouterr().out
    assert "would remove deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb" in out
    assert "4 package file(s) would be removed" in out
    _program().run(["inv", "repo.resign", *common], exit=False)
    assert "wrote deb/dists/stable/InRelease" in capsys.readouterr().out

    home = tmp_path / "g"
    os.environ.pop("ORCHESTRATOR_SIGNING_PASSPHRASE", None)
    _program().run(
        ["inv", "keys.generate", "--project", "acme", "--email", "ops@example.org",
         "--gnupghome", str(home)],
        exit=False,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("fingerprint: ") and "BEGIN PGP PUBLIC KEY BLOCK" in out
    wipe_keyring(home)


def test_task_errors_are_orchestrator_errors(tmp_path: Path) -> None:
    with pytest.raises(Exit) as raised:
        repo_tasks.build.body(
            None,
            packages=str(tmp_path / "nothing"),
            repo=str(tmp_path),
            inventory=str(_inventory(tmp_path)),
        )
    assert raised.value.code == UsageError.exit_code


def test_by_hash_keeps_the_last_generations(tree: Path, nfpm: Nfpm, signer: Signer) -> None:
    index_dir = tree / "deb/dists/stable/main/binary-amd64"
    first = hashlib.sha256((index_dir / "Packages").read_bytes()).hexdigest()
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        add_packages(build_set(nfpm, version), tree, "stable", OPTIONS, signer)
    # Three generations of Packages, .gz and .xz; the first generation is gone.
    assert len(list((index_dir / "by-hash/SHA256").iterdir())) == 3 * 3
    assert len(list((index_dir / "by-hash/SHA512").iterdir())) == 3 * 3
    assert not (index_dir / "by-hash/SHA256" / first).exists()
    current = hashlib.sha256((index_dir / "Packages").read_bytes()).hexdigest()
    assert (index_dir / "by-hash/SHA256" / current).is_file()


def test_a_rotated_key_re_signs_every_index_even_with_nothing_new(
    tree: Path, nfpm: Nfpm, wrong_keyring: Keyring
) -> None:
    # A release of packages the tree has, after the signing key changed: every index must
    # carry the new key's signature, as the published key file does.
    config = SigningConfig(
        fingerprint=wrong_keyring.key.fingerprint, gnupghome=str(wrong_keyring.home)
    )
    with open_signer(config) as rotated:
        change = add_packages(build_set(nfpm, "1.0.0"), tree, "stable", OPTIONS, rotated)
        assert "deb/dists/stable/InRelease" in change.rewritten
        keyring = tree / "keys" / "demo.gpg"
        for signed in [tree / "deb/dists/stable/InRelease"]:
            verified = subprocess.run(
                ["gpgv", "--keyring", str(keyring), str(signed)], capture_output=True, check=False
            )
            assert verified.returncode == 0, verified.stderr
        for repomd in tree.glob("rpm/stable/*/repodata/repomd.xml"):
            verified = subprocess.run(
                ["gpgv", "--keyring", str(keyring), f"{repomd}.asc", str(repomd)],
                capture_output=True, check=False,
            )  # fmt: skip
            assert verified.returncode == 0, verified.stderr
        # Once re-signed, the same packages again write nothing.
        again = add_packages(build_set(nfpm, "1.0.0"), tree, "stable", OPTIONS, rotated)
        assert again.rewritten == []
