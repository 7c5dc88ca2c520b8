"""The environment variables that hold the tool's secrets, named in one place.

The DigitalOcean token, the signing key and its passphrase, the bucket credentials and the
registry password and the Python index's token are read from the environment and must never be handed on: not to a
build host, not to a hook, not into a log. Whatever passes environment variables on consults :func:`secret_variables`.
"""

from __future__ import annotations

DIGITALOCEAN_TOKEN = "DIGITALOCEAN_ACCESS_TOKEN"
SPACES_KEY = "SPACES_KEY"
SPACES_SECRET = "SPACES_SECRET"
SIGNING_KEY = "ORCHESTRATOR_SIGNING_KEY"
SIGNING_PASSPHRASE = "ORCHESTRATOR_SIGNING_PASSPHRASE"
REGISTRY_USERNAME = "REGISTRY_USERNAME"
REGISTRY_PASSWORD = "REGISTRY_PASSWORD"
# The Python package index's upload token (twine's password).
PYTHON_INDEX_TOKEN = "PYTHON_INDEX_TOKEN"
# What boto3 reads when SPACES_KEY/SPACES_SECRET are not set.
AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def secret_variables(
    signing_key: str = SIGNING_KEY,
    passphrase: str = SIGNING_PASSPHRASE,
    registry_password: str = REGISTRY_PASSWORD,
    python_index_token: str = PYTHON_INDEX_TOKEN,
) -> frozenset[str]:
    """Every variable that holds a secret, with the variables an inventory names."""
    return frozenset(
        {DIGITALOCEAN_TOKEN, SPACES_KEY, SPACES_SECRET, SIGNING_KEY, SIGNING_PASSPHRASE}
        | {REGISTRY_PASSWORD, PYTHON_INDEX_TOKEN}
        | set(AWS_CREDENTIALS)
        | {signing_key, passphrase, registry_password, python_index_token}
    )
