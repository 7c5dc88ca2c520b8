"""Release orchestrator: a git tag in, signed APT and RPM repositories out."""

__version__ = "0.1.0"
