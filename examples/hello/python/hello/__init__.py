"""hello, as a Python package: ``hello-py`` (or ``python -m hello``) says hello and its version."""

# build.sh writes the release's version over 0.0.0.
__version__ = "0.0.0"


def main() -> None:
    """Say hello and the version."""
    print(f"hello {__version__}")
