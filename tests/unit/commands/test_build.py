import subprocess
from pathlib import Path

from orchestrator.commands import build as commands


def test_build_quotes_values_and_sets_a_timeout() -> None:
    command = commands.build(".relorch/r/t", "make $X", {"VERSION": "1.0; rm -rf /"}, 90.5)
    assert command == (
        "cd .relorch/r/t/src && env VERSION='1.0; rm -rf /' "
        "timeout --foreground --kill-after=10 90 sh -c 'make $X'"
    )


def test_prepare_and_unpack() -> None:
    assert commands.prepare("w d") == "rm -rf 'w d' && mkdir -p 'w d'/src"
    assert commands.unpack("w") == "tar -xzf w/source.tar.gz -C w/src"


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_collect_checksums_and_bundles_matches(tmp_path: Path) -> None:
    workdir = "w"
    (tmp_path / "w" / "src" / "dist").mkdir(parents=True)
    (tmp_path / "w" / "src" / "dist" / "a_1.0_amd64.deb").write_bytes(b"deb")
    (tmp_path / "w" / "src" / "dist" / "b.whl").write_bytes(b"whl")
    result = run(commands.collect(workdir, ["dist/*.deb", "dist/*.whl", "dist/*.rpm"]), tmp_path)
    assert result.returncode == 0, result.stderr
    sums = (tmp_path / "w" / "SHA256SUMS").read_text()
    assert "dist/a_1.0_amd64.deb" in sums and "dist/b.whl" in sums
    listing = subprocess.run(
        ["tar", "-tzf", str(tmp_path / "w" / "artifacts.tar.gz")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(listing) == ["SHA256SUMS", "dist/a_1.0_amd64.deb", "dist/b.whl"]


def test_collect_fails_when_nothing_matches(tmp_path: Path) -> None:
    (tmp_path / "w" / "src").mkdir(parents=True)
    result = run(commands.collect("w", ["dist/*.deb"]), tmp_path)
    assert result.returncode == 3
    assert "no file matches the artifact globs: dist/*.deb" in result.stderr


def test_source_archive() -> None:
    assert commands.source_archive("/src/my repo", "v1.2.3", "out.tgz") == (
        "git -C '/src/my repo' archive --format=tar.gz --output=out.tgz v1.2.3"
    )


def test_tests_run_each_command_in_a_shell_of_its_own_under_one_timeout() -> None:
    command = commands.tests(".relorch/r/tests", ["make check", "./test.sh"], {"TAG": "v1"}, 60)
    assert command == (
        "cd .relorch/r/tests/src && env TAG=v1 timeout --foreground --kill-after=10 60 "
        "sh -c 'sh -c '\"'\"'make check'\"'\"' && sh -c ./test.sh'"
    )


def test_tests_stop_at_the_first_failure_with_its_status(tmp_path: Path) -> None:
    (tmp_path / "w" / "src").mkdir(parents=True)
    chain = ["echo 'one'; cd /; exit 0", "pwd; exit 7", "echo never"]
    result = run(commands.tests("w", chain, {"TAG": "v1"}, 5), tmp_path)
    assert result.returncode == 7
    # The second command starts where the first did: a cd does not carry over.
    assert result.stdout.splitlines() == ["one", str(tmp_path / "w" / "src")]
