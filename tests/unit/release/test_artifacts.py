import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from orchestrator.errors import BuildError
from orchestrator.release.artifacts import (
    Identity,
    check_identity,
    parse_checksums,
    read_identity,
    unpack_bundle,
    verify_checksums,
)
from orchestrator.release.plan import Accepted, Limits

LIMITS = Limits(bundle_bytes=1 << 20, unpacked_bytes=1 << 20, files=100, log_bytes=1 << 20)
ACCEPTED = Accepted(names=("hello",), arch_independent=(), epoch=None, version="1.2.3")


def bundle(files: dict[str, bytes], sums: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in {**files, "SHA256SUMS": sums.encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_good_bundle_verifies(tmp_path: Path) -> None:
    files = {"dist/a.deb": b"a", "dist/b.whl": b"b"}
    sums = "".join(f"{digest(d)}  {n}\n" for n, d in files.items())
    listed = unpack_bundle(bundle(files, sums), tmp_path / "out", "t", LIMITS)
    verified = verify_checksums(tmp_path / "out", listed, "t")
    assert [p.name for p, _ in verified] == ["a.deb", "b.whl"]


def test_unlisted_and_missing_files_fail(tmp_path: Path) -> None:
    files = {"dist/a.deb": b"a", "dist/extra": b"x"}
    sums = f"{digest(b'a')}  dist/a.deb\n"
    listed = unpack_bundle(bundle(files, sums), tmp_path / "out", "t", LIMITS)
    with pytest.raises(BuildError, match="t: dist/extra arrived but is not in SHA256SUMS"):
        verify_checksums(tmp_path / "out", listed, "t")
    with pytest.raises(BuildError, match="dist/gone is listed in SHA256SUMS but missing"):
        verify_checksums(
            tmp_path / "out", {**listed, "dist/extra": digest(b"x"), "dist/gone": "0" * 64}, "t"
        )


def test_checksum_lines_must_be_sane() -> None:
    with pytest.raises(BuildError, match="line 1 is malformed"):
        parse_checksums(f"{'a' * 64}  ../../etc/passwd\n", "t")
    with pytest.raises(BuildError, match="line 2 is malformed"):
        parse_checksums(f"{'a' * 64}  ok\nnonsense\n", "t")


def test_an_archive_escaping_its_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"t: artifact bundle refused: .*'\.\.'"):
        unpack_bundle(bundle({"../evil": b"x"}, ""), tmp_path / "out", "t", LIMITS)
    assert not (tmp_path / "out").exists()


def identity(**fields: object) -> Identity:
    values: dict[str, object] = {
        "kind": "deb", "name": "hello", "epoch": None, "version": "1.2.3", "arch": "amd64",
        **fields,
    }  # fmt: skip
    return Identity(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("package", "accepted", "message"),
    [
        (identity(name="sudo"), ACCEPTED, "package name sudo, which this target does not"),
        (identity(epoch=9), ACCEPTED, "epoch 9, but the project's epoch is none"),
        (identity(epoch=1), Accepted(("hello",), (), 2, "1.2.3"), "epoch 1, but .* is 2"),
        (identity(version="9.9.9"), ACCEPTED, r"version 9\.9\.9, but the release is 1\.2\.3"),
        (identity(arch="arm64"), ACCEPTED, "built for architecture arm64, but the target is amd64"),
        (identity(arch="all"), ACCEPTED, "list hello in the target's arch_independent"),
        (identity(kind="rpm", arch="noarch"), ACCEPTED, "the target is x86_64"),
    ],
)  # fmt: skip
def test_a_package_the_plan_does_not_accept_fails_naming_the_field(
    package: Identity, accepted: Accepted, message: str
) -> None:
    with pytest.raises(BuildError, match=f"^t: dist/x (has|is) .*{message}"):
        check_identity(package, "dist/x", target="t", arch="amd64", accepted=accepted)


@pytest.mark.parametrize(
    ("package", "accepted"),
    [
        (identity(), ACCEPTED),
        (identity(epoch=0), ACCEPTED),
        (identity(epoch=2), Accepted(("hello",), (), 2, "1.2.3")),
        (identity(name="hello-doc", arch="all"), Accepted(("hello", "hello-doc"), ("hello-doc",), None, "1.2.3")),
        (identity(kind="rpm", arch="x86_64"), ACCEPTED),
    ],
)  # fmt: skip
def test_declared_packages_pass(package: Identity, accepted: Accepted) -> None:
    check_identity(package, "dist/x", target="t", arch="amd64", accepted=accepted)


def _deb(path: Path, control: str) -> Path:
    """A minimal .deb: an ar archive with debian-binary and control.tar.gz."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w:gz") as archive:
        data = control.encode()
        info = tarfile.TarInfo("./control")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    members = [("debian-binary", b"2.0\n"), ("control.tar.gz", tar_buffer.getvalue())]
    with path.open("wb") as out:
        out.write(b"!<arch>\n")
        for name, content in members:
            out.write(f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode())
            out.write(content + (b"\n" if len(content) % 2 else b""))
    return path


def test_a_deb_declares_its_epoch_and_upstream_version(tmp_path: Path) -> None:
    deb = _deb(
        tmp_path / "x.deb",
        "Package: hello\nVersion: 9:2.0.23-1\nArchitecture: amd64\nMaintainer: m\nDescription: d\n",
    )
    assert read_identity(deb, "dist/x.deb", "t") == Identity("deb", "hello", 9, "2.0.23", "amd64")
    plain = _deb(
        tmp_path / "y.deb",
        "Package: hello\nVersion: 1.3.0~rc.1-1\nArchitecture: all\nMaintainer: m\nDescription: d\n",
    )
    assert read_identity(plain, "dist/y.deb", "t") == Identity(
        "deb", "hello", None, "1.3.0~rc.1", "all"
    )
    (tmp_path / "z.txt").write_text("not a package")
    assert read_identity(tmp_path / "z.txt", "dist/z.txt", "t") is None
    (tmp_path / "bad.deb").write_bytes(b"garbage")
    with pytest.raises(BuildError, match=r"dist/bad\.deb is not a valid package"):
        read_identity(tmp_path / "bad.deb", "dist/bad.deb", "t")
