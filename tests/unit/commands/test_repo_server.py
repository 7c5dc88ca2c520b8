"""The repo server's commands, compared exactly: they are the publisher's contract."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.commands import repo_server as remote
from orchestrator.errors import PublishError
from orchestrator.publish.ledger import FILE as LEDGER
from orchestrator.publish.ledger import MAX_BYTES


def test_lock_commands() -> None:
    assert remote.take_lock("/srv/repo", "run_id=r\n") == (
        "mkdir -p /srv/repo/snapshots && if mkdir /srv/repo/.lock 2>/dev/null; "
        "then printf %s 'run_id=r\n' > /srv/repo/.lock/details; "
        "else cat /srv/repo/.lock/details 2>/dev/null; exit 3; fi"
    )
    assert remote.release_lock("/srv/repo", "abc") == (
        "grep -qxF token=abc /srv/repo/.lock/details && rm -rf /srv/repo/.lock"
    )
    assert remote.force_unlock("/srv/my repo") == (
        "cat '/srv/my repo/.lock/details' 2>/dev/null; rm -rf '/srv/my repo/.lock'"
    )


def test_snapshot_commands() -> None:
    name = "20261122T103005Z-1.2.3"
    assert remote.prepare_snapshot("/srv/repo", "20261121T000000Z-1.2.2", name) == (
        "cd /srv/repo/snapshots && rm -rf .new-* && "
        f"cp -al 20261121T000000Z-1.2.2 .new-{name} && cd .new-{name} && "
        "rm -f .manifest.json && xargs -0 -r rm -f -- && "
        "find . -mindepth 1 -type d -empty -delete"
    )
    assert remote.prepare_snapshot("/srv/repo", None, name).split(" && ")[2] == f"mkdir .new-{name}"
    assert remote.extract("/srv/repo", name) == (
        f"tar -x -U --no-same-owner -f - -C /srv/repo/snapshots/.new-{name}"
    )
    assert remote.verify_snapshot("/srv/repo", name) == (
        f"cd /srv/repo/snapshots/.new-{name} && sha256sum --quiet --strict -c - && "
        "echo '--8<--' && find . -type f -printf '%s %P\\n'"
    )
    assert remote.activate("/srv/repo", name) == (
        f"cd /srv/repo && mv -T snapshots/.new-{name} snapshots/{name} && "
        f"ln -sfn snapshots/{name} .current.new && mv -Tf .current.new current"
    )
    assert remote.switch("/srv/repo", name) == (
        f"cd /srv/repo && test -d snapshots/{name} && "
        f"ln -sfn snapshots/{name} .current.new && mv -Tf .current.new current"
    )
    assert remote.remove_snapshots("/srv/repo", ["a", "b c"]) == (
        "cd /srv/repo/snapshots && rm -rf -- a 'b c'"
    )
    assert remote.append_audit("/srv/repo", "a\tb'c") == (
        "printf '%s\\n' 'a\tb'\"'\"'c' >> /srv/repo/audit.log"
    )


def test_parse_state() -> None:
    output = "snapshots/20261122T103005Z-1.2.3\n--8<--\n.new-x\n20261122T103005Z-1.2.3\n--8<--\n{}"
    state = remote.parse_state(output, "/srv/repo")

    assert state.current == "20261122T103005Z-1.2.3"
    assert state.snapshots == [".new-x", "20261122T103005Z-1.2.3"]
    assert state.manifest == "{}"
    assert remote.parse_state("", "/srv/repo") == remote.ServerState()
    assert remote.parse_state("\n--8<--\n--8<--\n", "/srv/repo") == remote.ServerState()


@pytest.mark.parametrize("link", ["/etc", "snapshots/a/b", "elsewhere"])
def test_a_current_link_elsewhere_is_refused(link: str) -> None:
    with pytest.raises(PublishError, match="not at a snapshot"):
        remote.parse_state(f"{link}\n--8<--\n--8<--\n", "/srv/repo")


def test_listing_problems() -> None:
    listing = "10 deb/a\n7 deb/b\n3 rpm/stray\n9 environments.html\n"

    assert remote.listing_problems({"deb/a": 10, "deb/b": 7, "rpm/stray": 3}, listing) == []
    assert remote.listing_problems({"deb/a": 10, "deb/b": 8, "deb/c": 1}, listing) == [
        "missing deb/c",
        "unexpected rpm/stray",
        "deb/b has 7 bytes, expected 8",
    ]


def _place(root: Path, page: bytes, sent: bytes) -> subprocess.CompletedProcess[bytes]:
    command = remote.place_page(
        str(root), "20261201T100000Z-1.2.3", "status/environments.html", page
    )
    return subprocess.run(["sh", "-c", command], input=sent, capture_output=True, check=False)


def test_a_page_cut_short_on_its_way_is_never_served(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshots" / "20261201T100000Z-1.2.3"
    (snapshot / "status").mkdir(parents=True)
    served = snapshot / "status" / "environments.html"
    served.write_bytes(b"<p>the last page</p>")
    page = b"<p>" + b"x" * 100_000 + b"</p>"

    # The client went away mid-upload: the remote cat sees end of input, not an error.
    assert _place(tmp_path, page, page[:50_000]).returncode != 0
    assert served.read_bytes() == b"<p>the last page</p>"
    tampered = page[:-5] + b"!</p>"
    assert _place(tmp_path, page, tampered).returncode != 0
    assert served.read_bytes() == b"<p>the last page</p>"

    assert _place(tmp_path, page, page).returncode == 0
    assert served.read_bytes() == page
    assert oct(served.stat().st_mode & 0o777) == "0o644"


def _sh(command: str, sent: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sh", "-c", command], input=sent, capture_output=True, check=False)


def test_the_deploy_ledger_is_replaced_whole_beside_the_snapshots_and_read_bounded(
    tmp_path: Path,
) -> None:
    assert (
        _sh(remote.read_ledger(str(tmp_path / "none-yet"), LEDGER, MAX_BYTES)).returncode
        == remote.NO_LEDGER
    )
    assert _sh(remote.read_ledger(str(tmp_path), LEDGER, MAX_BYTES)).returncode == remote.NO_LEDGER
    ledger = tmp_path / "deploys.json"
    ledger.write_bytes(b'{"kept": true}')
    new = b'{"format": 1, "environments": {}}\n'
    # Cut short on its way, or changed: the ledger stays as it was.
    assert _sh(remote.write_ledger(str(tmp_path), LEDGER, new), new[:10]).returncode != 0
    assert _sh(remote.write_ledger(str(tmp_path), LEDGER, new), new.upper()).returncode != 0
    assert ledger.read_bytes() == b'{"kept": true}'
    assert _sh(remote.write_ledger(str(tmp_path), LEDGER, new), new).returncode == 0
    assert ledger.read_bytes() == new and oct(ledger.stat().st_mode & 0o777) == "0o600"
    assert _sh(remote.read_ledger(str(tmp_path), LEDGER, MAX_BYTES)).stdout == new
    ledger.write_bytes(b" " * (MAX_BYTES + 100))
    assert len(_sh(remote.read_ledger(str(tmp_path), LEDGER, MAX_BYTES)).stdout) == MAX_BYTES + 1
