"""The OpenPGP key that signs repository metadata and RPMs, checked before anything is built.

:func:`open_signer` finds the key (a keyring by fingerprint, or an armored private key in an
environment variable imported into a throwaway keyring that is wiped on exit, also on
failure), refuses keys that are expired, expire within :data:`MIN_VALIDITY` or carry SHA-1
self-signatures, and yields a :class:`Signer`. A wrong passphrase shows at the first
signature, or at :meth:`Signer.prove`, and at the latest when the block ends. Signatures
use SHA-512. The private key is only ever handed to the local gpg; RPMs are signed by one
local gpg-agent per core (see :mod:`orchestrator.repo.gpghomes`).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orchestrator.config.repositories import SigningConfig
from orchestrator.errors import SigningError, UsageError
from orchestrator.repo.gpghomes import (
    default_home,
    linked_home,
    remove_linked_home,
    sweep_stale_homes,
    temporary_home,
    wipe_keyring,
)

if TYPE_CHECKING:
    import gnupg

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
    # Where the secret part is, in a secret-key listing: "+" in a key file on disk, a card's
    # serial number, or "#" for none (a stub); "" in a public-key listing.
    secret: str = ""


@dataclass
class KeyListing:
    """The parts of gpg's colon listing of a key and its signatures that decide if it is usable."""

    primary: KeyPart
    subkeys: list[KeyPart] = field(default_factory=list)
    self_signature_hashes: list[int] = field(default_factory=list)


def _timestamp(value: str) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def parse_key_listing(colons: str) -> KeyListing:
    """Parse the colon listing of one key with its signatures.

    That is ``--with-colons --fixed-list-mode`` with ``--list-sigs``, or with
    ``--list-secret-keys --with-sig-list`` (``sec``/``ssb`` records, which also tell where
    each secret part is).
    """
    listing: KeyListing | None = None
    last: list[str] | None = None
    for line in colons.splitlines():
        record = line.split(":")
        kind = record[0]
        if kind in ("pub", "sub", "sec", "ssb"):
            last = record
        elif kind == "fpr" and last is not None:
            part = KeyPart(
                key_id=last[4],
                fingerprint=record[9],
                validity=last[1],
                created=_timestamp(last[5]) or datetime.fromtimestamp(0, UTC),
                expires=_timestamp(last[6]),
                capabilities=last[11],
                secret=last[14] if last[0] in ("sec", "ssb") and len(last) > 14 else "",
            )
            if last[0] in ("pub", "sec"):
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


def signing_part(listing: KeyListing, now: datetime) -> KeyPart | None:
    """The part gpg signs with: the newest unexpired signing subkey, else the primary."""
    usable = [
        part
        for part in listing.subkeys
        if "s" in part.capabilities
        and part.secret != "#"
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
    for part in (primary, signing_part(listing, now)):
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


def _gnupg_handle(gpgbinary: str, gnupghome: str | None) -> gnupg.GPG:
    """A python-gnupg handle; the library is imported on first use, not with the task list."""
    import gnupg

    return gnupg.GPG(gpgbinary=gpgbinary, gnupghome=gnupghome)


class SigningKey(Protocol):
    """What the repository code signs with: :class:`Signer`, or a fake in tests."""

    @property
    def fingerprint(self) -> str:
        """The key's full fingerprint."""

    @property
    def public_key(self) -> str:
        """The armored public key."""

    @property
    def public_key_binary(self) -> bytes:
        """The binary public key."""

    def prove(self) -> None:
        """SigningError unless the key can sign."""

    def detach_sign(self, data: bytes) -> bytes:
        """An armored detached signature of ``data``."""

    def sign_release(self, release: bytes) -> tuple[bytes, bytes]:
        """``Release.gpg`` and ``InRelease`` for an APT ``Release`` file."""

    def signing_rpms(self, paths: Sequence[Path]) -> AbstractContextManager[None]:
        """Sign RPMs in place while the block runs."""


class Signer:
    """Signs data and RPMs with one checked key; create it with :func:`open_signer`."""

    def __init__(
        self, gnupghome: Path | None, fingerprint: str, passphrase: str | None, agents: int = 1
    ) -> None:
        self.gnupghome = gnupghome
        self.fingerprint = fingerprint
        self._passphrase = passphrase
        # How many gpg-agents may sign RPMs at once, and the linked homes of the extra ones.
        self._agents = agents
        self._linked: list[Path] = []
        self._gpg = _gnupg_handle(GPG, str(gnupghome) if gnupghome else None)
        # Any successful signature shows the key and its passphrase work.
        self._proven = False

    def prove(self) -> None:
        """Raise :class:`SigningError` unless the key can sign (a wrong passphrase shows here).

        A signature made already is proof; before the first one, this signs a probe.
        """
        if not self._proven:
            self._sign(b"probe", clearsign=False, detach=True)

    def _sign(self, data: bytes, *, clearsign: bool, detach: bool, text: bool = False) -> bytes:
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
        self._proven = True
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

    @contextmanager
    def signing_rpms(self, paths: Sequence[Path]) -> Iterator[None]:
        """Add this key's signature to RPMs in place (``rpmsign --addsign``) during the block.

        The caller's block runs while rpmsign does; leaving it waits for rpmsign and raises
        :class:`SigningError` if a package could not be signed (an error in the block stops
        rpmsign). The packages are shared out among one rpmsign per agent (see
        :mod:`orchestrator.repo.gpghomes`); an extra agent that cannot sign (a passphrase
        only the key's own agent has cached) hands its packages back to that agent.
        """
        if not paths:
            yield
            return
        homes = self._agent_homes(min(len(paths), self._agents))
        batches = [(home, paths[i :: len(homes)]) for i, home in enumerate(homes)]
        running = _Rpmsign(self._rpmsign_command, batches, self._passphrase)
        try:
            yield
        except BaseException:
            running.stop()
            raise
        failed = running.wait()
        if 0 in failed:
            self.prove()  # a key that cannot sign at all gets gpg's own, clearer error
            _raise_rpmsign_failure(failed[0])
        if failed:
            self._single_agent()
            handed_back = [path for i in failed for path in batches[i][1]]
            retried = _Rpmsign(
                self._rpmsign_command, [(self.gnupghome, handed_back)], self._passphrase
            ).wait()
            if retried:
                _raise_rpmsign_failure(retried[0])
        self._proven = True

    def _rpmsign_command(self, passphrase_fd: int | None) -> list[str]:
        extra = "--batch --pinentry-mode loopback"
        if passphrase_fd is not None:
            # The passphrase arrives on a pipe rpmsign hands on to each gpg it runs: it is
            # never in a file, so not even a kill -9 leaves it on disk.
            extra += f" --passphrase-fd {passphrase_fd}"
        macros = {
            # Debian's rpm macros point %__gpg at gpg2, which Debian does not ship.
            "__gpg": shutil.which(GPG) or "/usr/bin/gpg",
            "_gpg_name": self.fingerprint,
            "_gpg_digest_algo": DIGEST.lower(),
            "_gpg_sign_cmd_extra_args": extra,
        }
        command = ["rpmsign", "--addsign"]
        for name, value in macros.items():
            command += ["--define", f"{name} {value}"]
        return command

    def _agent_homes(self, count: int) -> list[Path | None]:
        """The key's own home, then linked homes (made on first use) up to ``count`` in all."""
        if count > 1 and len(self._linked) < count - 1:
            source = self.gnupghome or default_home()
            self._linked += [linked_home(source) for _ in range(count - 1 - len(self._linked))]
        return [self.gnupghome, *self._linked[: max(count - 1, 0)]]

    def _single_agent(self) -> None:
        """Sign with the key's own agent only (an extra one could not sign)."""
        self._agents = 1
        self.close()

    def close(self) -> None:
        """Stop the extra agents and remove their homes."""
        for home in self._linked:
            remove_linked_home(home)
        self._linked.clear()


def _feed_passphrase(fd: int, passphrase: str) -> None:
    """Write the passphrase line to ``fd`` over and over: gpg reads one line per signature.

    It stops when the last reader (rpmsign and its gpg children) is gone.
    """
    line = (passphrase + "\n").encode("utf-8")
    try:
        with os.fdopen(fd, "wb", buffering=0) as pipe:
            while True:
                pipe.write(line)
    except (BrokenPipeError, OSError):
        pass


class _Rpmsign:
    """One rpmsign per ``(home, packages)`` batch, all running at once."""

    def __init__(
        self,
        command: Callable[[int | None], list[str]],
        batches: Sequence[tuple[Path | None, Sequence[Path]]],
        passphrase: str | None,
    ) -> None:
        self._processes: dict[int, subprocess.Popen[str]] = {}
        for index, (home, batch) in enumerate(batches):
            if not batch:
                continue
            read_end, write_end = os.pipe() if passphrase is not None else (None, None)
            argv = [
                *command(read_end),
                *(["--define", f"_gpg_path {home}"] if home else []),
                *map(str, batch),
            ]
            try:
                self._processes[index] = subprocess.Popen(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    pass_fds=() if read_end is None else (read_end,),
                )
            except FileNotFoundError:
                if write_end is not None:
                    os.close(write_end)
                self.stop()
                raise SigningError("rpmsign is not installed: install the rpm package") from None
            finally:
                if read_end is not None:
                    os.close(read_end)
            if write_end is not None:
                assert passphrase is not None
                threading.Thread(
                    target=_feed_passphrase, args=(write_end, passphrase), daemon=True
                ).start()

    def wait(self) -> dict[int, str]:
        """Wait for every batch; the output of each that failed, by batch index."""
        outputs = {index: process.communicate()[0] for index, process in self._processes.items()}
        return {
            index: outputs[index]
            for index, process in self._processes.items()
            if process.returncode
        }

    def stop(self) -> None:
        """Stop every batch (the caller gave up) and reap the processes."""
        for process in self._processes.values():
            process.kill()
        self.wait()


def _raise_rpmsign_failure(output: str) -> None:
    lines = output.strip().splitlines() or ["no output"]
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
    # One listing gives the secret parts and the self-signatures that check_key reads.
    secret = _gpg_command(gnupghome, "--list-secret-keys", "--with-sig-list", fingerprint)
    if secret.returncode != 0 or "\nsec:" not in "\n" + secret.stdout:
        raise SigningError(
            f"no secret key {fingerprint} in {where}: import it, or fix --key/--gnupghome"
        )
    listing = parse_key_listing(secret.stdout)
    check_key(listing, now)
    part = signing_part(listing, now)
    # A key on a smartcard has one agent (and one card); a key on disk can have several.
    agents = len(os.sched_getaffinity(0)) if part is not None and part.secret == "+" else 1
    signer = Signer(gnupghome, listing.primary.fingerprint, passphrase, agents)
    try:
        yield signer
        signer.prove()  # a block that signed nothing still learns that the key cannot sign
    finally:
        signer.close()


@contextmanager
def open_signer(
    config: SigningConfig,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Iterator[Signer]:
    """Find and check the signing key, then yield a :class:`Signer` for it.

    Call :meth:`Signer.prove` where a wrong passphrase must stop the caller before it goes
    on (before droplets are created); leaving the block proves the key if nothing was signed.
    """
    env = os.environ if environ is None else environ
    moment = now or datetime.now(UTC)
    # Homes a killed run left may hold an imported private key and a live agent.
    sweep_stale_homes()
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
        imported = _gnupg_handle(GPG, str(home)).import_keys(armored, passphrase=passphrase)
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
    gpg = _gnupg_handle(GPG, str(gnupghome) if gnupghome else None)
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


# Seconds gpg may take to import or export a key (no agent, no network).
KEY_TOOL_TIMEOUT = 30.0


def public_key_only(armored: str, where: str) -> str:
    """The public keys of ``armored``, exported armored: nothing secret ever reaches a host.

    A key file that also holds a private block (by mistake) yields only its public half.
    UsageError when it holds no key at all.
    """
    home = temporary_home()
    try:
        base = [GPG, "--batch", "--no-options", "--homedir", str(home)]
        imported = subprocess.run(
            [*base, "--import"], input=armored.encode(), capture_output=True,
            timeout=KEY_TOOL_TIMEOUT, check=False,
        )  # fmt: skip
        exported = subprocess.run(
            [*base, "--armor", "--export"],
            capture_output=True,
            timeout=KEY_TOOL_TIMEOUT,
            check=False,
        )
    finally:
        wipe_keyring(home)
    text = exported.stdout.decode(errors="replace")
    if imported.returncode != 0 or "PUBLIC KEY BLOCK" not in text:
        raise UsageError(f"{where}: no OpenPGP public key in it; give the project's armored key")
    return text
