"""``check_python`` installs from the index without running anything the build made."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from orchestrator.config.credentials import secret_variables
from orchestrator.verify.python import check_python, pip_environment

SECRET = "s3cret-do-token-for-the-test"


def _record(members: dict[str, bytes], dist_info: str) -> bytes:
    lines = []
    for name, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}")
    lines.append(f"{dist_info}/RECORD,,")
    return ("\n".join(lines) + "\n").encode()


def hostile_wheel(directory: Path, marker: Path) -> Path:
    """hello 1.2.3 with correct metadata and a .pth that runs at any Python's start-up."""
    info = "hello-1.2.3.dist-info"
    payload = (
        f"import os; open({str(marker)!r}, 'w').write(os.environ.get('DIGITALOCEAN_TOKEN', ''))\n"
    )
    members = {
        "hello/__init__.py": b"",
        "zzz.pth": payload.encode(),
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: hello\nVersion: 1.2.3\n\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    members[f"{info}/RECORD"] = _record(members, info)
    path = directory / "hello-1.2.3-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def hostile_sdist(directory: Path, marker: Path) -> Path:
    """hello 1.2.3 as an sdist whose setup.py writes the marker when pip builds it."""
    setup = f"open({str(marker)!r}, 'w').write('built')\nfrom setuptools import setup\nsetup()\n"
    path = directory / "hello-1.2.3.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in {
            "hello-1.2.3/setup.py": setup.encode(),
            "hello-1.2.3/PKG-INFO": b"Metadata-Version: 2.1\nName: hello\nVersion: 1.2.3\n\n",
        }.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return path


def simple_index(root: Path, *files: Path) -> str:
    """A PEP 503 tree on disk, which pip reads through a file:// URL."""
    project = root / "simple" / "hello"
    project.mkdir(parents=True)
    links = []
    for file in files:
        (project / file.name).write_bytes(file.read_bytes())
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        links.append(f'<a href="{file.name}#sha256={digest}">{file.name}</a>')
    (project / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>")
    return (root / "simple").as_uri() + "/"


def test_a_wheel_with_a_pth_never_runs_and_never_sees_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", SECRET)
    marker = tmp_path / "marker"
    built = tmp_path / "built"
    built.mkdir()
    url = simple_index(tmp_path / "index", hostile_wheel(built, marker))
    result = check_python("hello", url, "1.2.3")
    assert result.ok, result.detail
    assert result.detail == "installed hello 1.2.3"
    assert not marker.exists()


def test_an_sdist_only_release_is_never_built_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", SECRET)
    marker = tmp_path / "marker"
    built = tmp_path / "built"
    built.mkdir()
    url = simple_index(tmp_path / "index", hostile_sdist(built, marker))
    result = check_python("hello", url, "1.2.3")
    assert not result.ok
    assert "no wheel" in result.detail
    assert not marker.exists()


def test_the_wrong_version_installed_is_a_failure(tmp_path: Path) -> None:
    built = tmp_path / "built"
    built.mkdir()
    url = simple_index(tmp_path / "index", hostile_wheel(built, tmp_path / "marker"))
    result = check_python("hello", url, "1.2.4")
    assert not result.ok
    assert not (tmp_path / "marker").exists()


def test_pip_never_gets_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in secret_variables():
        monkeypatch.setenv(name, SECRET)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    environment = pip_environment(tmp_path)
    assert SECRET not in environment.values()
    assert "PYTHONPATH" not in environment
    assert environment["HOME"] == str(tmp_path)
