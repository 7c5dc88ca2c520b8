"""The repository tree's retention and the signing key, as the inventory declares them.

Pure data the inventory schema embeds; the repository code builds its own options from
them (:func:`orchestrator.repo.options.repo_options`), and the signing key's variables are
read only when a signer is opened.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.config.credentials import SIGNING_KEY, SIGNING_PASSPHRASE

# 30 days lets a weekly `invoke repo.resign` job miss three runs before clients refuse the
# repository, while still bounding how long a captured, outdated Release can be replayed.
DEFAULT_VALID_UNTIL_DAYS = 30


class RetentionOptions(BaseModel):
    """How many versions of a package a channel keeps."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)

    keep_last: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Keep the last N versions per package, architecture and channel; "
        "unset keeps every version.",
    )


class SigningConfig(BaseModel):
    """Where the signing key comes from: a keyring by fingerprint, or environment variables.

    With ``fingerprint`` set, the secret key is taken from ``gnupghome`` (or gpg's default
    home). Without it, the armored private key in the variable named by ``key_env`` is
    imported into a temporary keyring that is wiped afterwards. In both cases the variable
    named by ``passphrase_env``, when set, unlocks the key.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)

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
