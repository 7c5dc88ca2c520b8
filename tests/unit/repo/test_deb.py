from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.repo import deb
from orchestrator.repo.packages import Digests, parse_control

FIXED = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)


def test_packages_stanza_adds_archive_fields_and_drops_empty_ones() -> None:
    control = parse_control(
        "Package: hello\nVersion: 1.0-1\nSection:\nArchitecture: amd64\nSize: 1\n"
        "Depends:\n libc6,\n zlib1g\nDescription: greeting\n A longer text.\n .\n End.\n"
    )
    stanza = deb.packages_stanza(
        control, "pool/main/h/hello/hello_1.0-1_amd64.deb", Digests(42, "a" * 64, "b" * 128)
    )
    assert stanza == (
        "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\n"
        "Depends:\n libc6,\n zlib1g\nDescription: greeting\n A longer text.\n .\n End.\n"
        "Filename: pool/main/h/hello/hello_1.0-1_amd64.deb\nSize: 42\n"
        f"SHA256: {'a' * 64}\nSHA512: {'b' * 128}\n"
    )


def test_format_date_is_rfc2822_utc_whatever_the_locale() -> None:
    assert deb.format_date(FIXED) == "Sun, 22 Nov 2026 10:30:05 UTC"


def test_render_release_lists_every_index_with_both_digests() -> None:
    fields = deb.ReleaseFields(
        origin="Example",
        label="Example Tools",
        suite="stable",
        codename="stable",
        date=FIXED,
        valid_until=datetime(2026, 12, 22, 10, 30, 5, tzinfo=UTC),
        architectures=["amd64", "arm64"],
        components=["main"],
    )
    entries = [
        deb.IndexEntry("main/binary-amd64/Packages.gz", 95, "2" * 64, "4" * 128),
        deb.IndexEntry("main/binary-amd64/Packages", 1234, "1" * 64, "3" * 128),
    ]
    assert deb.render_release(fields, entries) == (
        "Origin: Example\nLabel: Example Tools\nSuite: stable\nCodename: stable\n"
        "Date: Sun, 22 Nov 2026 10:30:05 UTC\nValid-Until: Tue, 22 Dec 2026 10:30:05 UTC\n"
        "Architectures: amd64 arm64\nComponents: main\nAcquire-By-Hash: yes\nSHA256:\n"
        f" {'1' * 64} 1234 main/binary-amd64/Packages\n"
        f" {'2' * 64}   95 main/binary-amd64/Packages.gz\n"
        "SHA512:\n"
        f" {'3' * 128} 1234 main/binary-amd64/Packages\n"
        f" {'4' * 128}   95 main/binary-amd64/Packages.gz\n"
    )


def test_release_entries_reads_back_what_render_release_wrote() -> None:
    fields = deb.ReleaseFields("o", "l", "s", "s", FIXED, FIXED, ["amd64"], ["main"])
    entries = [deb.IndexEntry.of("main/binary-amd64/Packages", b"Package: x\n")]
    parsed = deb.release_entries(deb.render_release(fields, entries))
    assert parsed == {"main/binary-amd64/Packages": entries[0]}


def test_next_generations_keeps_the_last_k() -> None:
    history = [["a"], ["b"], ["c"]]
    assert deb.next_generations(history, ["d"], 3) == [["b"], ["c"], ["d"]]
    # Re-signing without a change does not use up a generation.
    assert deb.next_generations(history, ["c"], 3) == [["a"], ["b"], ["c"]]
    assert deb.next_generations([], ["x", "w"], 2) == [["w", "x"]]


def test_packages_segments_include_arch_all_and_skip_other_arches() -> None:
    names = [f"pool/main/p/p{i}/p{i}_1.0_amd64.deb" for i in range(300)]
    names += ["pool/main/d/doc/doc_1.0_all.deb", "pool/main/a/arm/arm_1.0_arm64.deb"]
    flat = [name for group in deb.packages_segments(names, "amd64") for name in group]
    assert sorted(flat) == sorted(n for n in names if not n.endswith("_arm64.deb"))


def test_render_segment_ends_every_paragraph_with_a_blank_line() -> None:
    text = deb.render_segment(["Package: a\n", "Package: b\n"])
    assert text == b"Package: a\n\nPackage: b\n\n"
    assert deb.filenames_in_packages(b"Package: a\nFilename: pool/x.deb\n\n") == ["pool/x.deb"]


def test_filenames_in_packages_reads_only_filename_fields() -> None:
    index = (
        b"Filename: pool/first.deb\nPackage: first\n\n"
        b"Package: b\nDescription: b\n Filename: not/a/field.deb\nXFilename: no.deb\n"
        b"Filename: pool/b.deb"
    )
    assert deb.filenames_in_packages(index) == ["pool/first.deb", "pool/b.deb"]


def test_architectures_of_falls_back_for_arch_all_only_suites() -> None:
    assert deb.architectures_of(["arm64", "all", "amd64"], ["x"]) == ["amd64", "arm64"]
    assert deb.architectures_of(["all"], ["arm64", "amd64"]) == ["amd64", "arm64"]
