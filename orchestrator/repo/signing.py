"""The OpenPGP key that signs repository metadata and RPMs, checked before anything is built.

:func:`open_signer` finds the key (a keyring by fingerprint, or an armored private key in an
environment variable imported into a throwaway keyring that is wiped on exit, also on
failure), refuses keys that are expired, expire within :data:`MIN_VALIDITY` or carry SHA-1
self-signatures, and yields a :class:`Signer` that is already proving, in the background,
that it can sign (a wrong passphrase shows there). Signatures use SHA-512. The private key is
only ever handed to the local gpg.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gnupg

from orchestrator.errors import SigningError
from orchestrator.repo.options import SigningConfig

MIN_VALIDITY = timedelta(days=14)
DIGEST = "SHA512"
GPG = "gpg"
# OpenPGP hash algorithm ids (RFC 4880 9.4) too weak for self-signatures.
_WEAK_HASHES = {1: "MD5", 2: "SHA-1", 3: "RIPEMD-160"}
_SELF_SIGNATURE_CLASSES = ("10", "11", "12", "13", "18", "1f")
# Text an inline signature would alter (trailing blanks are dropped, leading dashes escaped).
_NOT_VERBATIM_IN_CLEARSIGN = re.compile(rb"[ \t\r]$|^-", re.MULTILINE)


@dataclass(frozen=True)
class KeyPart:
    """A primary key or subkey as gpg lists it."""

    key_id: str
    fingerprint: str
    validity: str
    created: datetime
    expires: datetime | None
    capabilities: str


@dataclass
class KeyListing:
    """The parts of ``gpg --with-colons --list-sigs`` output that decide if a key is usable."""

    primary: KeyPart
    subkeys: list[KeyPart] = field(default_factory=list)
    self_signature_hashes: list[int] = field(default_factory=list)


def _timestamp(value: str) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def parse_key_listing(colons: str) -> KeyListing:
    """Parse the colon listing of one key (``--with-colons --fixed-list-mode --list-sigs``)."""
    listing: KeyListing | None = None
    last: list[str] | None = None
    for line in colons.splitlines():
        record = line.split(":")
        kind = record[0]
        if kind in ("pub", "sub"):
            last = record
        elif kind == "fpr" and last is not None:
            part = KeyPart(
                key_id=last[4],
                fingerprint=record[9],
                validity=last[1],
                created=_timestamp(last[5]) or datetime.fromtimestamp(0, UTC),
                expires=_timestamp(last[6]),
                capabilities=last[11],
            )
            if last[0] == "pub":
                if listing is not None:
                    raise SigningError("the key selector matches several keys: give a fingerprint")
                listing = KeyListing(primary=part)
            elif listing is not None:
                listing.subkeys.append(part)
            last = None
        elif kind == "sig" and listing is not None:
            is_self = record[4] == listing.primary.key_id
            if is_self and record[10][:2].lower() in _SELF_SIGNATURE_CLASSES and record[15]:
                listing.self_signature_hashes.append(int(record[15]))
    if listing is None:
        raise SigningError("gpg listed no public key: check the fingerprint and the keyring")
    return listing


def _signing_part(listing: KeyListing, now: datetime) -> KeyPart | None:
    """The part gpg signs with: the newest unexpired signing subkey, else the primary."""
    usable = [
        part
        for part in listing.subkeys
        if "s" in part.capabilities
        and part.validity not in ("e", "r")
        and (part.expires is None or part.expires > now)
    ]
    if usable:
        return max(usable, key=lambda part: part.created)
    return listing.primary if "s" in listing.primary.capabilities else None


def check_key(listing: KeyListing, now: datetime) -> None:
    """Raise :class:`SigningError` unless the key can sign safely for at least 14 days."""
    primary = listing.primary
    fpr = primary.fingerprint
    if primary.validity == "r":
        raise SigningError(
            f"signing key {fpr} is revoked: generate a new one (invoke keys.generate)"
        )
    for part in (primary, _signing_part(listing, now)):
        if part is None:
            raise SigningError(f"signing key {fpr} has no signing-capable (sub)key: add one")
        if part.expires is not None and part.expires <= now:
            raise SigningError(
                f"signing key {part.fingerprint} expired on {part.expires:%Y-%m-%d}: extend it "
                "with gpg --quick-set-expire, or generate a new one"
            )
        if part.expires is not None and part.expires - now < MIN_VALIDITY:
            raise SigningError(
                f"signing key {part.fingerprint} expires on {part.expires:%Y-%m-%d}, within "
                f"{MIN_VALIDITY.days} days: extend it with gpg --quick-set-expire first"
            )
    weak = sorted({_WEAK_HASHES[h] for h in listing.self_signature_hashes if h in _WEAK_HASHES})
    if weak:
        raise SigningError(
            f"signing key {fpr} has self-signatures using {', '.join(weak)}: re-sign it with "
            "gpg --cert-digest-algo SHA512 --quick-set-expire, or generate a new key"
        )


class Signer:
    """Signs data and RPMs with one checked key; create it with :func:`open_signer`."""

    def __init__(self, gnupghome: Path | None, fingerprint: str, passphrase: str | None) -> None:
        self.gnupghome = gnupghome
        self.fingerprint = fingerprint
        self._passphrase = passphrase
        self._gpg = gnupg.GPG(gpgbinary=GPG, gnupghome=str(gnupghome) if gnupghome else None)
        self._proof: Future[bytes] | None = None

    @contextmanager
    def proving(self) -> Iterator[None]:
        """Sign a probe in the background while the caller goes on; check it on leaving.

        The probe catches a wrong passphrase. In the background it costs a build nothing:
        the first signature (:meth:`prove`) waits for it, and so does leaving the block,
        which raises its error if the block itself succeeded.
        """
        with ThreadPoolExecutor(max_workers=1) as executor:
            self._proof = executor.submit(self._gpg_sign, b"probe", clearsign=False, detach=True)
            try:
                yield
            except BaseException:
                self._proof.exception()  # let gpg finish before a keyring is wiped
                raise
            self.prove()

    def prove(self) -> None:
        """Wait for the probe signature; raise :class:`SigningError` if the key cannot sign."""
        if self._proof is not None:
            self._proof.result()

    def _sign(self, data: bytes, *, clearsign: bool, detach: bool, text: bool = False) -> bytes:
        self.prove()
        return self._gpg_sign(data, clearsign=clearsign, detach=detach, text=text)

    def _gpg_sign(self, data: bytes, *, clearsign: bool, detach: bool, text: bool = False) -> bytes:
        result = self._gpg.sign(
            data,
            keyid=self.fingerprint,
            passphrase=self._passphrase,
            clearsign=clearsign,
            detach=detach,
            binary=False,
            extra_args=["--digest-algo", DIGEST, *(["--textmode"] if text else [])],
        )
        signature: bytes = result.data
        if not signature:
            detail = (result.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise SigningError(
                f"gpg could not sign with {self.fingerprint} ({detail[0]}): check the key "
                "and its passphrase variable"
            )
        return signature

    def clearsign(self, data: bytes) -> bytes:
        """An inline-signed copy of ``data`` (``InRelease``)."""
        return self._sign(data, clearsign=True, detach=False)

    def detach_sign(self, data: bytes) -> bytes:
        """An armored detached signature of ``data`` (``Release.gpg``, ``repomd.xml.asc``)."""
        return self._sign(data, clearsign=False, detach=True)

    def sign_release(self, release: bytes) -> tuple[bytes, bytes]:
        """``Release.gpg`` and ``InRelease`` for an APT ``Release`` file, from one signature.

        A text-mode signature covers the text with CRLF line ends, the last one included.
        An inline-signed message covers its text the same way minus the line end just
        before the signature (RFC 4880, 7.1), so the text ``release`` plus one empty line
        carries the very same signature: one RSA operation instead of two, which is most
        of the time a small repository change takes. Text an inline signature would alter
        is signed twice instead.
        """
        if not release.endswith(b"\n") or _NOT_VERBATIM_IN_CLEARSIGN.search(release):
            return self.detach_sign(release), self.clearsign(release)
        signature = self._sign(release, clearsign=False, detach=True, text=True)
        header = f"-----BEGIN PGP SIGNED MESSAGE-----\nHash: {DIGEST}\n\n".encode()
        return signature, header + release + b"\n" + signature

    @functools.cached_property
    def public_key(self) -> str:
        """The armored public key."""
        armored: str = self._gpg.export_keys(self.fingerprint)
        return armored

    @functools.cached_property
    def public_key_binary(self) -> bytes:
        """The binary public key, as apt's ``signed-by`` keyrings want it."""
        binary: bytes = self._gpg.export_keys(self.fingerprint, armor=False)
        return binary

    def sign_rpms(self, paths: Sequence[Path]) -> None:
        """Add this key's signature to RPMs in place with ``rpmsign --addsign``."""
        if not paths:
            return
        self.prove()
        with tempfile.TemporaryDirectory(prefix="orc-rpmsign-") as scratch:
            extra = "--batch --pinentry-mode loopback"
            if self._passphrase is not None:
                secret = Path(scratch, "passphrase")
                secret.touch(mode=0o600)
                secret.write_text(self._passphrase, encoding="utf-8")
                extra += f" --passphrase-file {secret}"
            macros = {
                # Debian's rpm macros point %__gpg at gpg2, which Debian does not ship.
                "__gpg": shutil.which(GPG) or "/usr/bin/gpg",
                "_gpg_name": self.fingerprint,
                "_gpg_digest_algo": DIGEST.lower(),
                "_gpg_sign_cmd_extra_args": extra,
            }
            if self.gnupghome is not None:
                macros["_gpg_path"] = str(self.gnupghome)
            command = ["rpmsign", "--addsign"]
            for name, value in macros.items():
                command += ["--define", f"{name} {value}"]
            # rpmsign runs gpg once per package; a few rpmsign processes share the cores.
            batches = [paths[i :: os.cpu_count() or 1] for i in range(os.cpu_count() or 1)]
            processes = [
                subprocess.Popen(
                    [*command, *map(str, batch)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for batch in batches
                if batch
            ]
            failures = [
                output
                for process in processes
                for output in [process.communicate()[0]]
                if process.returncode != 0
            ]
        if failures:
            lines = failures[0].strip().splitlines() or ["no output"]
            raise SigningError(f"rpmsign failed ({lines[-1]}): check that rpm and gpg work")


def _gpg_command(gnupghome: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    home = ["--homedir", str(gnupghome)] if gnupghome is not None else []
    return subprocess.run(
        [GPG, *home, "--batch", "--with-colons", "--fixed-list-mode", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@contextmanager
def _verified_signer(
    gnupghome: Path | None, fingerprint: str, passphrase: str | None, now: datetime
) -> Iterator[Signer]:
    where = gnupghome or "the default GnuPG home"
    secret = _gpg_command(gnupghome, "--list-secret-keys", fingerprint)
    if secret.returncode != 0 or "\nsec:" not in "\n" + secret.stdout:
        raise SigningError(
            f"no secret key {fingerprint} in {where}: import it, or fix --key/--gnupghome"
        )
    listing = parse_key_listing(_gpg_command(gnupghome, "--list-sigs", fingerprint).stdout)
    check_key(listing, now)
    signer = Signer(gnupghome, listing.primary.fingerprint, passphrase)
    with signer.proving():
        yield signer


def wipe_keyring(gnupghome: Path) -> None:
    """Stop the gpg-agent of a throwaway keyring and delete it."""
    subprocess.run(
        ["gpgconf", "--homedir", str(gnupghome), "--kill", "all"],
        capture_output=True,
        check=False,
    )
    shutil.rmtree(gnupghome, ignore_errors=True)


def temporary_home() -> Path:
    """A fresh, private GnuPG home with a short path (agent sockets have a length limit)."""
    return Path(tempfile.mkdtemp(prefix="orc-gpg-", dir="/tmp"))


@contextmanager
def open_signer(
    config: SigningConfig,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Iterator[Signer]:
    """Find and check the signing key, then yield a :class:`Signer` for it.

    The signer proves it can sign in the background; call :meth:`Signer.prove` where a
    wrong passphrase must stop the caller before it goes on (before droplets are created).
    """
    env = os.environ if environ is None else environ
    moment = now or datetime.now(UTC)
    passphrase = env.get(config.passphrase_env) or None
    if config.fingerprint is not None:
        home = Path(config.gnupghome).expanduser() if config.gnupghome else None
        with _verified_signer(home, config.fingerprint.upper(), passphrase, moment) as signer:
            yield signer
        return
    armored = env.get(config.key_env, "")
    if "PRIVATE KEY BLOCK" not in armored:
        raise SigningError(
            f"no signing key: set ${config.key_env} to an armored private key, "
            "or pass --key FINGERPRINT"
        )
    home = temporary_home()
    try:
        imported = gnupg.GPG(gpgbinary=GPG, gnupghome=str(home)).import_keys(
            armored, passphrase=passphrase
        )
        fingerprints = sorted(set(imported.fingerprints))
        if len(fingerprints) != 1:
            raise SigningError(
                f"${config.key_env} must hold exactly one private key, found "
                f"{len(fingerprints)}: export just the signing key"
            )
        with _verified_signer(home, fingerprints[0], passphrase, moment) as signer:
            yield signer
    finally:
        wipe_keyring(home)


@dataclass(frozen=True)
class GeneratedKey:
    """A freshly generated signing key."""

    fingerprint: str
    public_key: str


def generate_key(
    name: str,
    email: str,
    gnupghome: Path | None,
    passphrase: str | None = None,
    expire_days: int = 730,
    key_length: int = 4096,
) -> GeneratedKey:
    """Create an RSA signing key (SHA-512 self-signatures) and return its public half."""
    gpg = gnupg.GPG(gpgbinary=GPG, gnupghome=str(gnupghome) if gnupghome else None)
    parameters = {
        "key_type": "RSA",
        "key_length": key_length,
        "key_usage": "sign",
        "name_real": name,
        "name_email": email,
        "expire_date": f"{expire_days}d",
        "preferences": "SHA512 SHA384 SHA256 AES256 AES192 AES ZLIB BZIP2 ZIP Uncompressed",
    }
    if passphrase:
        parameters["passphrase"] = passphrase
    else:
        parameters["no_protection"] = True
    result = gpg.gen_key(gpg.gen_key_input(**parameters))
    fingerprint = str(result.fingerprint or "")
    if not fingerprint:
        raise SigningError(f"gpg could not generate a key ({result.stderr.strip()[-200:]})")
    return GeneratedKey(fingerprint=fingerprint, public_key=gpg.export_keys(fingerprint))
