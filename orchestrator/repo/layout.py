"""Where everything lives in a repository tree; pure path arithmetic, no I/O.

A tree is the same on disk, on the repo server and in a bucket::

    deb/dists/<channel>/{Release,InRelease,Release.gpg}
    deb/dists/<channel>/main/binary-<arch>/{Packages,Packages.gz,Packages.xz,by-hash/SHA{256,512}/}
    deb/pool/main/<prefix>/<source>/<name>_<version>_<arch>.deb
    deb/<project>-<channel>.{sources,list}
    rpm/<channel>/<arch>/{packages/*.rpm,repodata/}
    rpm/<project>-<channel>.repo
    keys/<project>.asc, keys/<project>.gpg
    index.html

``.state/`` beside them holds caches and history; it is private to the orchestrator and is
never published (publishers copy only :data:`PUBLISHED`).
"""

from __future__ import annotations

from pathlib import PurePosixPath

# The published tree's top names: the inventory's schema keeps its entries clear of them.
from orchestrator.config.schema import DEB as DEB
from orchestrator.config.schema import KEYS as KEYS
from orchestrator.config.schema import LANDING_PAGE as LANDING_PAGE
from orchestrator.config.schema import PUBLISHED as PUBLISHED
from orchestrator.config.schema import RPM as RPM

STATE = ".state"
PACKAGE_SUFFIXES = (".deb", ".rpm")

COMPONENT = "main"
RPM_PACKAGES = "packages"
REPODATA = "repodata"
REPOMD = "repomd.xml"
REPOMD_SIGNATURE = "repomd.xml.asc"


def pool_prefix(source: str) -> str:
    """Debian's pool bucket for a source package: ``libfoo`` -> ``libf``, ``hello`` -> ``h``."""
    if source.startswith("lib") and len(source) > 3:
        return source[:4]
    return source[0]


def strip_epoch(version: str) -> str:
    """A Debian version without its ``epoch:`` prefix, as it appears in file names."""
    return version.split(":", 1)[1] if ":" in version else version


def deb_file_name(name: str, version: str, arch: str) -> str:
    """The canonical file name of a binary package: ``name_version_arch.deb``."""
    return f"{name}_{strip_epoch(version)}_{arch}.deb"


def pool_file_arch(filename: str) -> str:
    """The architecture in a canonical pool file name (see :func:`deb_file_name`)."""
    return filename.rsplit("_", 1)[-1].removesuffix(".deb")


def pool_path(source: str, file_name: str) -> str:
    """Path of a .deb relative to ``deb/``, which is also its ``Filename`` in ``Packages``."""
    return str(PurePosixPath("pool", COMPONENT, pool_prefix(source), source, file_name))


def suite_dir(channel: str) -> str:
    """Directory of an APT suite relative to ``deb/``."""
    return f"dists/{channel}"


def binary_dir(arch: str) -> str:
    """Directory of an architecture's indexes relative to the suite directory."""
    return f"{COMPONENT}/binary-{arch}"


def by_hash_paths(index_path: str, sha256: str, sha512: str) -> tuple[str, str]:
    """Where the SHA256- and SHA512-named copies of an index live, relative to the suite.

    apt fetches by the strongest digest the Release lists, so SHA512 needs copies too.
    """
    directory = index_path.rsplit("/", 1)[0]
    return f"{directory}/by-hash/SHA256/{sha256}", f"{directory}/by-hash/SHA512/{sha512}"


def rpm_tree(channel: str, arch: str) -> str:
    """Directory of one RPM repository relative to ``rpm/``."""
    return f"{channel}/{arch}"


def rpm_file_name(name: str, version: str, release: str, arch: str) -> str:
    """The canonical file name of an RPM: ``name-version-release.arch.rpm``."""
    return f"{name}-{version}-{release}.{arch}.rpm"


def public_key_paths(project: str) -> tuple[str, str]:
    """Armored and binary public key paths relative to the tree root."""
    return f"{KEYS}/{project}.asc", f"{KEYS}/{project}.gpg"


def deb_client_files(project: str, channel: str) -> tuple[str, str]:
    """The deb822 ``.sources`` and one-line ``.list`` paths relative to the tree root."""
    return f"{DEB}/{project}-{channel}.sources", f"{DEB}/{project}-{channel}.list"


def rpm_client_file(project: str, channel: str) -> str:
    """The ``.repo`` file path relative to the tree root."""
    return f"{RPM}/{project}-{channel}.repo"
