"""Release orchestrator: a git tag in, signed APT and RPM repositories out."""

DISTRIBUTION = "release-orchestrator"


def __getattr__(name: str) -> str:
    """``__version__``: the installed distribution's version, the one in pyproject.toml.

    Looked up on access, not at import: importlib.metadata costs every ``invoke`` run
    some 20 ms, and only ``relorch --version`` and ``relorch init`` ask.
    """
    if name == "__version__":
        from importlib.metadata import version

        return version(DISTRIBUTION)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
