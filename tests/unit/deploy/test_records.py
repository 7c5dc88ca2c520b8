"""A host's records are read in bounded amounts on the host and parsed leniently here."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.commands import compose
from orchestrator.commands import deploy as commands
from orchestrator.commands.compose import ComposeTarget, ImageSlot
from orchestrator.commands.deploy import MARK, RECORDS_SENT, HostFiles, read_records
from orchestrator.deploy.hosts import Completed
from orchestrator.deploy.hoststate import parse_host_state
from orchestrator.deploy.payload import payload_of
from orchestrator.deploy.records import Record
from orchestrator.deploy.survey import survey
from orchestrator.errors import DeployError
from orchestrator.remote.fleet import HostAccess
from tests.unit.deploy.test_rollout import inventory

FILES = HostFiles(tool="relorch", project="hello")
READ = (
    "tail -c 8388608 /var/lib/relorch/deploys.jsonl 2>/dev/null | "
    "LC_ALL=C awk 'length($0) <= 65536' | tail -n 200 | tail -c 524288"
)
HUGE = "A" * 3_000_000


def record(version: str) -> str:
    return Record("t", "r", "dev", "dev-1", "deploy", version, None, "deployed", "ci").to_line()


def test_the_records_are_read_from_a_bounded_window_and_sent_bounded() -> None:
    assert read_records(FILES.records) == READ
    assert commands.inspect(FILES, ["hello"], ["hello.service"]) == (
        "dpkg-query -W -f '${Package} ${db:Status-Abbrev} ${Version}\\n' hello 2>/dev/null; "
        "echo '--8<--'; systemctl is-active hello.service 2>/dev/null; echo '--8<--'; "
        f"{READ}; true"
    )
    project = ComposeTarget(
        "/srv/hello", (ImageSlot("127.79.0.1:5000/hello", ("hello",), "HELLO_TAG"),)
    )
    assert compose.inspect(FILES, project).endswith(f"echo '--8<--'; echo '--8<--'; {READ}; true")


def _read(path: Path) -> str:
    done = subprocess.run(
        ["sh", "-c", read_records(str(path))], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_huge_line_is_skipped_on_the_host_and_hides_no_record(tmp_path: Path) -> None:
    path = tmp_path / "deploys.jsonl"
    before = [record(f"1.2.{n}") for n in range(5)]
    path.write_text("\n".join([*before, HUGE, record("1.3.0")]) + "\n")
    assert _read(path).splitlines() == [*before, record("1.3.0")]
    # The same line with no newline after it, as a write cut short leaves it.
    path.write_text("\n".join([*before, HUGE]))
    assert _read(path).splitlines() == before


def test_a_file_of_gigabytes_without_a_newline_is_read_in_a_bounded_time(tmp_path: Path) -> None:
    path = tmp_path / "deploys.jsonl"
    with path.open("wb") as sparse:
        sparse.truncate(3 << 30)
    started = time.monotonic()
    assert _read(path) == ""
    assert time.monotonic() - started < 5


def test_what_the_records_part_prints_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "deploys.jsonl"
    # Lines short enough to be taken, long enough that 200 of them pass the bound.
    path.write_text("".join(f"{n:05d}{'B' * 10_000}\n" for n in range(300)))
    printed = _read(path)
    assert len(printed) == RECORDS_SENT
    assert printed.endswith(f"00299{'B' * 10_000}\n")
    assert _read(tmp_path / "missing") == ""


def test_the_records_after_a_huge_line_or_a_mark_line_still_count() -> None:
    lines = [record("1.2.3"), HUGE, MARK, "not json", record("1.2.4")]
    output = f"hello ii  1.2.4-1\n{MARK}\nactive\n{MARK}\n" + "\n".join(lines) + "\n"
    state = parse_host_state("dev-1", output, ("hello.service",))
    assert [r.version for r in state.records] == ["1.2.3", "1.2.4"]
    assert state.components == {"hello": "1.2.4-1"}
    assert state.units == {"hello.service": "active"}


class Garbled:
    """A shell whose inspection answer lost its marks (as a cut output does)."""

    where = "dev-1"

    def run(self, command: str, **kwargs: object) -> Completed:
        return Completed(0, HUGE[:300_000], "")

    def hang_up(self) -> None:
        """Nothing to end."""

    def close(self) -> None:
        """Nothing to close."""


def test_an_answer_that_cannot_be_parsed_names_the_records_file_not_its_bytes() -> None:
    loaded = inventory()
    payload = payload_of(loaded, loaded.environment("dev"))
    access = HostAccess("dev-1", "127.78.0.11", 22, "root", "ssh-ed25519 AAAA")
    with pytest.raises(DeployError) as error:
        survey([access], lambda access: Garbled(), FILES, payload)
    message = str(error.value)
    assert message.startswith("dev-1: cannot parse the answer to the inspection (300000 ")
    assert message.endswith("then the last lines of /var/lib/relorch/deploys.jsonl")
    assert message.count("A") < 100 and "\n" not in message


def test_a_record_appended_after_a_line_without_a_newline_is_a_line_of_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deploys.jsonl"
    files = HostFiles(tool="relorch", project="hello")
    command = commands.append_record(files, record("1.2.4")).replace(files.state, str(tmp_path))
    for start, expected in [
        ("", [record("1.2.4")]),
        (f"{record('1.2.3')}\n", [record("1.2.3"), record("1.2.4")]),
        (f"{record('1.2.3')}\nAAAA", [record("1.2.3"), "AAAA", record("1.2.4")]),
    ]:
        path.write_text(start)
        subprocess.run(["sh", "-c", command], check=True)
        assert path.read_text().splitlines() == expected
