"""The release's tests (``tests:``): commands that must pass before anything is built.

They run on one machine of their own (a droplet of the run, or a static host) in the
release's source, as a build does, and before any build machine exists: a tag whose tests
fail costs one small droplet and publishes nothing.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from orchestrator.config.schema import DAY, Model

# What a test command finds in its environment (no secret ever reaches the test machine).
TEST_VARIABLES = ("PROJECT", "TAG", "COMMIT", "VERSION", "CHANNEL", "RUN_ID")
# A test command is a line of shell, or a short script: anything longer belongs in a file
# of the source tree.
MAX_COMMAND_CHARS = 64 * 1024


class ReleaseTests(Model):
    """Commands run in the release's source on one machine before any build machine exists."""

    commands: list[Annotated[str, Field(min_length=1, max_length=MAX_COMMAND_CHARS)]] = Field(
        min_length=1,
        max_length=100,
        description="Shell commands run one after the other in the unpacked source, each in "
        "a shell of its own; the first that exits non-zero fails the tests. They see "
        f"{', '.join(TEST_VARIABLES)} in their environment, never a secret.",
    )
    timeout: float = Field(
        default=1800.0,
        gt=0,
        le=DAY,
        description="Seconds all the commands together may take; past it the tests fail.",
    )
    size: str | None = Field(
        default=None, description="The test droplet's size slug; default cloud.size."
    )
    image: str | None = Field(
        default=None, description="The test droplet's image slug; default cloud.image."
    )
    host: str | None = Field(
        default=None,
        description="With provider static: the cloud.hosts entry the tests run on.",
    )
