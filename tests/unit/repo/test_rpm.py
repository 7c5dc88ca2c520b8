from __future__ import annotations

import gzip
from pathlib import Path

from orchestrator.repo.rpm import RpmEntry, render_segment, write_repodata


def _entry(name: str) -> RpmEntry:
    return RpmEntry(
        href=f"packages/{name}-1.0-1.x86_64.rpm",
        name=name,
        epoch="0",
        version="1.0",
        release="1",
        arch="x86_64",
        identity="0" * 64,
        primary=f'<package type="rpm"><name>{name}</name></package>\n',
        filelists=f'<package pkgid="x" name="{name}" arch="x86_64"></package>\n',
        other=f'<package pkgid="x" name="{name}" arch="x86_64"></package>\n',
    )


def test_entries_round_trip_through_the_cache_format() -> None:
    entry = _entry("demo")
    assert RpmEntry.from_data(entry.data()) == entry
    assert entry.evr == "0:1.0-1"


def test_write_repodata_names_files_by_hash_and_lists_them(tmp_path: Path) -> None:
    pieces = [render_segment([_entry("a")]), render_segment([_entry("b"), _entry("c")])]
    repomd = write_repodata(tmp_path, pieces, 3, revision=1700000000).decode()
    files = sorted(path.name for path in tmp_path.iterdir())
    assert len(files) == 3
    for kind in ("primary", "filelists", "other"):
        (name,) = [f for f in files if f.endswith(f"-{kind}.xml.gz")]
        assert f'<location href="repodata/{name}"/>' in repomd
    assert "<revision>1700000000</revision>" in repomd
    primary = gzip.decompress(next(tmp_path.glob("*-primary.xml.gz")).read_bytes()).decode()
    assert primary.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<metadata ')
    assert 'packages="3"' in primary and primary.endswith("</metadata>\n")
    assert primary.index("<name>a</name>") < primary.index("<name>b</name>")
    size = len(gzip.decompress(next(tmp_path.glob("*-other.xml.gz")).read_bytes()))
    assert f"<open-size>{size}</open-size>" in repomd
    assert not (tmp_path / "repomd.xml").exists()
