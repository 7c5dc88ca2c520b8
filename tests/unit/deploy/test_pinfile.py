from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest

from orchestrator.deploy.pinfile import _check_only_the_pins_changed, rewrite_pins
from orchestrator.errors import InventoryError

INVENTORY = """\
# The inventory: comments, blank lines, flow and block styles must all survive.
project: {name: example, maintainer: "Ops <ops@example.com>"}

x-defaults: &defaults
  channel: stable   # shared by several environments
  batches: [1, 50%]

environments:
  # Staging follows the release candidates.
  - name: staging
    <<: *defaults
    version: "1.2.3"     # pinned by promote --write

    hosts: [staging-1, staging-2]

  - {name: canary, version: '1.2.3', hosts: [canary-1]}
  - name: production
    from: canary
    version: 1.2.3
    hosts:
      - prod-1
      - prod-2
  - name: edge
    version: ^1.2.0
"""


def write(tmp_path: Path, text: str, mode: int = 0o640) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_bytes(text.encode("utf-8"))
    path.chmod(mode)
    return path


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


@pytest.mark.parametrize(
    ("environment", "old", "new"),
    [
        (
            "staging",
            '    version: "1.2.3"     # pinned by promote --write\n',
            '    version: "1.3.0-rc.1"     # pinned by promote --write\n',
        ),
        (
            "canary",
            "  - {name: canary, version: '1.2.3', hosts: [canary-1]}\n",
            "  - {name: canary, version: '1.3.0-rc.1', hosts: [canary-1]}\n",
        ),
        ("production", "    version: 1.2.3\n", "    version: 1.3.0-rc.1\n"),
    ],
)
def test_only_the_one_version_changes(tmp_path: Path, environment: str, old: str, new: str) -> None:
    path = write(tmp_path, INVENTORY)
    rewrite_pins(path, environment, {None: "1.3.0-rc.1"})
    after = path.read_text()
    # Exactly one line differs, keeping its quotes, comment and spacing; the other
    # environments pinned to the same version stay as they were.
    assert changed_lines(INVENTORY, after) == [f"-{old}", f"+{new}"]
    assert after.count("1.2.3") == INVENTORY.count("1.2.3") - 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.yaml"]


def test_crlf_line_endings_and_utf8_stay(tmp_path: Path) -> None:
    text = "# Équipe ☃\r\nenvironments:\r\n  - name: prod\r\n    version: '1.2.3'\r\n"
    path = write(tmp_path, text, 0o600)
    rewrite_pins(path, "prod", {None: "2.0.0"})
    assert path.read_bytes() == text.replace("1.2.3", "2.0.0").encode("utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlinked_inventory_is_written_through(tmp_path: Path) -> None:
    target = write(tmp_path, INVENTORY)
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    rewrite_pins(link, "production", {None: "1.2.4"})
    assert link.is_symlink()
    assert "    version: 1.2.4\n" in target.read_text()


def test_pins_written_as_v_or_equals_are_pins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "environments:\n  - name: a\n    version: v1.2.3\n  - name: b\n    version: =1.2.3\n",
    )
    rewrite_pins(path, "a", {None: "1.2.4"})
    rewrite_pins(path, "b", {None: "1.2.5"})
    assert (
        path.read_text()
        == "environments:\n  - name: a\n    version: 1.2.4\n  - name: b\n    version: 1.2.5\n"
    )


def test_a_tagged_string_keeps_its_tag(tmp_path: Path) -> None:
    path = write(tmp_path, "environments:\n  - name: a\n    version: !!str 1.2.3 # tagged\n")
    rewrite_pins(path, "a", {None: "1.2.4"})
    assert path.read_text() == "environments:\n  - name: a\n    version: !!str 1.2.4 # tagged\n"


def refused(path: Path, environment: str, fragment: str, version: str = "1.3.0") -> None:
    before = path.read_bytes()
    with pytest.raises(InventoryError) as info:
        rewrite_pins(path, environment, {None: version})
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert path.read_bytes() == before


def test_an_unknown_environment(tmp_path: Path) -> None:
    refused(
        write(tmp_path, INVENTORY),
        "qa",
        "no environment named 'qa' (environments: 'staging', 'canary', 'production', 'edge'); pass one of them",
    )


def test_a_range_is_not_rewritten(tmp_path: Path) -> None:
    refused(
        write(tmp_path, INVENTORY), "edge", "has version '^1.2.0', a range, not a pinned version"
    )


@pytest.mark.parametrize(
    "version", ["1.x", "1.2", "1.2.3 || 1.2.4", ">=1.2.3", "1.2.3+b", "not a version"]
)
def test_anything_but_an_exact_version_is_not_a_pin(tmp_path: Path, version: str) -> None:
    path = write(tmp_path, f"environments:\n  - name: a\n    version: '{version}'\n")
    refused(path, "a", "not a pinned version")


def test_an_aliased_version_is_refused(tmp_path: Path) -> None:
    text = "x-pin: &pin '1.2.3'\nenvironments:\n  - name: a\n    version: *pin\n  - name: b\n    version: *pin\n"
    refused(
        write(tmp_path, text),
        "a",
        "is the anchor or an alias &pin, so rewriting it would change other places",
    )


def test_an_anchored_version_is_refused(tmp_path: Path) -> None:
    text = "environments:\n  - name: a\n    version: &pin 1.2.3\n  - name: b\n    version: *pin\n"
    refused(write(tmp_path, text), "a", "alias &pin")


def test_a_version_from_a_merge_key_is_refused(tmp_path: Path) -> None:
    text = "x-base: &base {version: 1.2.3}\nenvironments:\n  - name: a\n    <<: *base\n"
    refused(
        write(tmp_path, text), "a", "the version of environment 'a' comes from a merge key (<<)"
    )


def test_an_environment_merged_into_another_is_refused(tmp_path: Path) -> None:
    text = "environments:\n  - &a\n    name: a\n    version: 1.2.3\n  - <<: *a\n    name: b\n"
    refused(write(tmp_path, text), "a", "environment 'a' is the anchor or an alias &a")


def test_a_version_that_is_not_a_string_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "environments:\n  - name: a\n    version: [1.2.3]\n")
    refused(path, "a", "the version of environment 'a' is not a string")


def test_a_multi_line_version_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "environments:\n  - name: a\n    version: |\n      1.2.3\n")
    refused(path, "a", "not a pinned version")
    path = write(tmp_path, 'environments:\n  - name: a\n    version: "1.2.\\x33"\n')
    refused(path, "a", "not written as a plain or quoted string on one line")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("project: x\n", "no environments: list"),
        ("", "empty inventory: add an environments: list"),
        ("environments: {a: 1}\n", "no environments: list"),
        ("environments:\n  - name: a\n", "the version of environment 'a' is missing"),
        (
            "environments:\n  - name: a\n    version: 1.2.3\n  - name: a\n    version: 1.2.3\n",
            "2 environments are named 'a'",
        ),
        (
            "environments:\n  - name: a\n    version: 1.2.3\n    version: 1.2.4\n",
            "duplicate key 'version'",
        ),
        ("environments: [\n", "invalid YAML"),
        ("a: &x [*x]\nenvironments: []\n", "an alias refers to a value that contains it"),
    ],
)
def test_inventories_it_cannot_edit(tmp_path: Path, text: str, fragment: str) -> None:
    refused(write(tmp_path, text), "a", fragment)


def test_files_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="inventory file not found"):
        rewrite_pins(tmp_path / "missing.yaml", "a", {None: "1.3.0"})
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"environments: \xff\n")
    refused(binary, "a", "not UTF-8 text (byte 14)")
    os.mkfifo(tmp_path / "fifo")
    # A FIFO would block the read: it is refused before it is opened.
    with pytest.raises(InventoryError, match="not a regular file"):
        rewrite_pins(tmp_path / "fifo", "a", {None: "1.3.0"})


def test_the_new_version_must_be_exact(tmp_path: Path) -> None:
    path = write(tmp_path, INVENTORY)
    for bad in ("^1.3.0", "v1.3.0", "1.3.0\n", "1.3"):
        with pytest.raises(ValueError, match="not an exact semver version"):
            rewrite_pins(path, "production", {None: bad})
    assert path.read_text() == INVENTORY


def test_the_last_check_refuses_an_edit_that_changes_more() -> None:
    old = {"environments": [{"name": "a", "version": "1.2.3"}, {"name": "b", "version": "1.2.3"}]}
    both = "environments:\n  - {name: a, version: 1.3.0}\n  - {name: b, version: 1.3.0}\n"
    with pytest.raises(InventoryError, match="would change more than those versions"):
        _check_only_the_pins_changed(
            Path("inventory.yaml"), old, both, [(["environments", 0, "version"], "1.3.0")], "a"
        )
    one = "environments:\n  - {name: a, version: 1.3.0}\n  - {name: b, version: 1.2.3}\n"
    _check_only_the_pins_changed(
        Path("inventory.yaml"), old, one, [(["environments", 0, "version"], "1.3.0")], "a"
    )
