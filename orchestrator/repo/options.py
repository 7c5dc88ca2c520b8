"""The settings of a repository tree and of its signing key, as the inventory declares them.

Both models are pure data: the inventory schema embeds them, and the repository code reads
them without touching the environment (the signing key's variables are read only when a
signer is opened).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.config.credentials import SIGNING_KEY, SIGNING_PASSPHRASE
from orchestrator.version import Channel

# 30 days lets a weekly `invoke repo.resign` job miss three runs before clients refuse the
# repository, while still bounding how long a captured, outdated Release can be replayed.
DEFAULT_VALID_UNTIL_DAYS = 30


class RetentionOptions(BaseModel):
    """How many versions of a package a channel keeps."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    keep_last: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Keep the last N versions per package, architecture and channel; "
        "unset keeps every version.",
    )


class RepoOptions(BaseModel):
    """What a repository tree is called, where it is served from and how it ages."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    project: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.+-]*$",
        description="Project name: names the key files, client files and RPM repository ids.",
    )
    origin: str = Field(description="APT Release `Origin` field, e.g. the organisation.")
    label: str = Field(description="APT Release `Label` field and the landing page title.")
    maintainer: str = Field(default="", description="Who runs the repository (landing page).")
    homepage: str = Field(default="", description="Project home page (landing page link).")
    base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s\"'<>]+$",
        description="Public URL of the repository tree root; without it the client files "
        "(.sources, .list, .repo) are not written and the landing page shows a placeholder.",
    )
    environments_page_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s\"'<>]+$",
        description="Where the environments page is published; the landing page links to it.",
    )
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.STABLE, Channel.TESTING, Channel.NIGHTLY],
        min_length=1,
        description="Channels (APT suites, RPM trees) this repository accepts.",
    )
    valid_until_days: int = Field(
        default=DEFAULT_VALID_UNTIL_DAYS,
        ge=1,
        le=3650,
        description="APT Release `Valid-Until` = signing time + this many days; "
        "run `invoke repo.resign` well within it.",
    )
    by_hash_generations: int = Field(
        default=3,
        ge=1,
        le=100,
        description="How many generations of APT indexes stay reachable under by-hash/.",
    )
    deb_architectures: list[str] = Field(
        default_factory=lambda: ["amd64", "arm64"],
        min_length=1,
        description="APT architectures of a suite that holds only `Architecture: all` packages.",
    )
    rpm_architectures: list[str] = Field(
        default_factory=lambda: ["x86_64", "aarch64"],
        min_length=1,
        description="RPM trees that receive `noarch` packages.",
    )
    retention: RetentionOptions = Field(default_factory=RetentionOptions)


class SigningConfig(BaseModel):
    """Where the signing key comes from: a keyring by fingerprint, or environment variables.

    With ``fingerprint`` set, the secret key is taken from ``gnupghome`` (or gpg's default
    home). Without it, the armored private key in the variable named by ``key_env`` is
    imported into a temporary keyring that is wiped afterwards. In both cases the variable
    named by ``passphrase_env``, when set, unlocks the key.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    fingerprint: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Fa-f]{40}$|^[0-9A-Fa-f]{64}$",
        description="Full fingerprint of the signing key in `gnupghome`.",
    )
    gnupghome: str | None = Field(
        default=None, description="GnuPG home holding the key; default: gpg's own default."
    )
    key_env: str = Field(
        default=SIGNING_KEY,
        description="Environment variable holding the armored private key (when no fingerprint).",
    )
    passphrase_env: str = Field(
        default=SIGNING_PASSPHRASE,
        description="Environment variable holding the key's passphrase, if it has one.",
    )
    public_key: Path | None = Field(
        default=None,
        description="The signing key's armored public half: deploys verify the published "
        "index with it and hosts trust it for the project's source only.",
    )
    sandbox_key: bool = Field(
        default=False,
        description="Rehearsals only: sign with a throwaway key the sandbox generates once.",
    )

    @model_validator(mode="after")
    def _home_needs_fingerprint(self) -> SigningConfig:
        if self.gnupghome is not None and self.fingerprint is None:
            raise ValueError("gnupghome is set but fingerprint is not: name the key to use")
        if self.sandbox_key and self.fingerprint is not None:
            raise ValueError("sandbox_key and fingerprint exclude each other: pick one key")
        return self
