import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.release.report import (
    axis_ticks,
    duration,
    log_href,
    render_report,
    safe_href,
    timeline_rows,
    write_report,
)
from orchestrator.release.summary import ImageSummary, PublishedSummary, RunSummary, TargetSummary

T0 = 1_795_343_405.0  # 2026-11-22 10:30:05 UTC


def target(name: str, spans: dict[str, tuple[float, float]], **changes: object) -> TargetSummary:
    arch, fmt = name.split("-")
    fields: dict[str, object] = {
        "name": name,
        "arch": arch,
        "format": fmt,
        "status": "succeeded",
        "seconds": 80.0,
        "droplet_seconds": 90.0,
        "cost": 0.0009,
        "artifacts": (f"hello_1.2.3_{arch}.{fmt}",),
        "spans": {stage: (T0 + a, T0 + b) for stage, (a, b) in spans.items()},
    }
    fields.update(changes)
    return TargetSummary(**fields)  # type: ignore[arg-type]


def summary(*targets: TargetSummary, **changes: object) -> RunSummary:
    fields: dict[str, object] = {
        "run_id": "20261122t103005-a1b2c3",
        "project": "hello",
        "tag": "v1.2.3",
        "ref": "v1.2.3",
        "commit": "3b18e512dba79e4c8300dd08aeb37f8e728b8dad",
        "version": "1.2.3",
        "channel": "stable",
        "status": "published",
        "exit_code": 0,
        "started_at": T0,
        "finished_at": T0 + 200.0,
        "targets": targets,
        "published": (
            PublishedSummary(
                "repo-server",
                "https://repo.example.org",
                "https://repo.example.org/keys/hello.asc",
                "20261122t103005-a1b2c3",
            ),
        ),
        "messages": ("published 4 packages to stable",),
    }
    fields.update(changes)
    return RunSummary(**fields)  # type: ignore[arg-type]


FULL = {"provision": (0.0, 50.0), "build": (50.0, 150.0), "collect": (150.0, 160.0)}


def test_timeline_positions_bar_on_the_run_axis_and_segments_in_the_bar() -> None:
    late = {"provision": (20.0, 40.0), "build": (60.0, 100.0), "collect": (100.0, 120.0)}
    rows = timeline_rows(summary(target("amd64-deb", FULL), target("arm64-rpm", late)))
    first, second = rows
    assert first.target == "amd64-deb" and first.bar is not None
    assert (first.bar.left, first.bar.width) == (0.0, 80.0)
    assert [(s.stage, s.left, s.width) for s in first.bar.segments] == [
        ("provision", 0.0, 31.25),
        ("build", 31.25, 62.5),
        ("collect", 93.75, 6.25),
    ]
    assert second.bar is not None
    assert (second.bar.left, second.bar.width) == (10.0, 50.0)
    # The 20 s gap between provision and build stays visible as bar background.
    assert [(s.left, s.width) for s in second.bar.segments] == [
        (0.0, 20.0),
        (40.0, 40.0),
        (80.0, 20.0),
    ]
    # Only segments of at least 12% of the axis (24 s of 200 s) print their duration.
    assert [s.labelled for s in second.bar.segments] == [False, True, False]
    assert [s.labelled for s in first.bar.segments] == [True, True, False]


def test_timeline_orders_segments_by_time_and_colours_each_operation() -> None:
    spans = {
        "collect": (90.0, 100.0), "upload": (10.0, 20.0), "provision": (0.0, 10.0),
        "destroy": (100.0, 104.0),
    }  # fmt: skip
    (row,) = timeline_rows(summary(target("amd64-deb", spans)))
    assert row.bar is not None
    assert [(s.stage, s.kind) for s in row.bar.segments] == [
        ("provision", "provision"),
        ("upload", "build"),
        ("collect", "collect"),
        ("destroy", "other"),
    ]


def test_the_run_wide_operations_have_their_own_row() -> None:
    run = replace(
        summary(target("amd64-deb", {"build": (10.0, 50.0)})),
        spans={
            "lock": (T0, T0 + 1.0),
            "index": (T0 + 50, T0 + 60),
            "publish repo": (T0 + 60, T0 + 70),
        },
    )
    first, second = timeline_rows(run)
    assert first.target == "run" and first.bar is not None
    assert [(s.stage, s.kind) for s in first.bar.segments] == [
        ("lock", "run"), ("index", "run"), ("publish repo", "run"),
    ]  # fmt: skip
    assert second.target == "amd64-deb"


def test_timeline_axis_grows_to_a_span_after_the_finish_and_clamps_before_the_start() -> None:
    spans = {"provision": (-5.0, 100.0), "build": (100.0, 400.0)}
    (row,) = timeline_rows(summary(target("amd64-deb", spans)))
    assert row.bar is not None
    assert (row.bar.left, row.bar.width, row.bar.start, row.bar.end) == (0.0, 100.0, 0.0, 400.0)
    assert row.bar.segments[0].start == 0.0


def test_a_target_without_spans_has_a_row_and_no_bar() -> None:
    rows = timeline_rows(
        summary(target("amd64-deb", FULL), target("arm64-deb", {}, status="reused"))
    )
    assert [(r.target, r.status, r.bar is None) for r in rows] == [
        ("amd64-deb", "succeeded", False),
        ("arm64-deb", "reused", True),
    ]


def test_timeline_of_a_zero_length_run_does_not_divide_by_zero() -> None:
    (row,) = timeline_rows(summary(target("amd64-deb", {"build": (0.0, 0.0)}), finished_at=T0))
    assert row.bar is not None and row.bar.width == 0.0
    # The axis is then one second long, drawn like any other.
    assert [t.label for t in axis_ticks(summary(finished_at=T0))] == ["0 s", "1 s"]


@pytest.mark.parametrize(
    ("seconds", "labels"),
    [
        (200.0, ["0 s", "30 s", "60 s", "90 s", "120 s", "150 s", "180 s"]),
        (45.0, ["0 s", "10 s", "20 s", "30 s", "40 s"]),
        (1500.0, ["0 s", "5 min", "10 min", "15 min", "20 min", "25 min"]),
    ],
)
def test_axis_ticks_use_round_steps(seconds: float, labels: list[str]) -> None:
    ticks = axis_ticks(summary(finished_at=T0 + seconds))
    assert [t.label for t in ticks] == labels
    assert ticks[0].position == 0.0
    assert ticks[1].position == pytest.approx(100 * ticks[1].seconds / seconds, abs=1e-3)


def test_duration_reads_well() -> None:
    assert [duration(s) for s in (4.24, 185.0, 3725.0)] == ["4.2 s", "3 min 05 s", "1 h 02 min"]


def test_report_has_one_bar_per_target_with_positions() -> None:
    targets = [target(name, FULL) for name in ("amd64-deb", "arm64-deb", "amd64-rpm")]
    html = render_report(summary(*targets))
    assert html.startswith("<!DOCTYPE html>")
    bars = re.findall(r'<div class="bar bar-succeeded" data-target="([^"]+)" style="([^"]+)"', html)
    assert bars == [
        (name, "left: 0.0%; width: 80.0%") for name in ("amd64-deb", "arm64-deb", "amd64-rpm")
    ]
    assert html.count('data-stage="build" style="left: 31.25%; width: 62.5%"') == 3
    # Self-contained: nothing to run, nothing to fetch.
    for external in ("<script", "<link", "src=", "@import", "url("):
        assert external not in html


def test_report_shows_header_statuses_and_totals() -> None:
    failed = target(
        "arm64-rpm",
        {"provision": (0.0, 40.0), "build": (40.0, 70.0)},
        status="failed",
        artifacts=(),
        error="build failed with exit code 2",
        cost=0.0011,
    )
    html = render_report(
        summary(target("amd64-deb", FULL), failed, status="failed", exit_code=1, published=())
    )
    assert 'class="run run-failed"' in html
    assert '<span class="badge badge-failed">failed</span>' in html
    assert '<span class="badge badge-succeeded">succeeded</span>' in html
    assert 'v1.2.3 <span class="arrow">&rarr;</span> 1.2.3' in html
    assert "2026-11-22 10:30:05 UTC" in html and "2026-11-22 10:33:25 UTC" in html
    assert "3 min 20 s" in html  # wall time
    assert "20261122t103005-a1b2c3" in html
    assert "<pre>build failed with exit code 2</pre>" in html
    assert "hello_1.2.3_amd64.deb" in html
    assert '<td class="num">180.0</td>' in html  # droplet-seconds, 90 + 90
    assert '<td class="num">$0.0020</td>' in html  # cost, 0.0009 + 0.0011
    assert "Nothing was published" in html


def test_report_escapes_hostile_data() -> None:
    hostile = '<script>alert("x")</script>'
    html = render_report(
        summary(
            target("amd64-deb", FULL, status="failed", error=hostile, artifacts=(hostile,)),
            messages=(hostile,),
            published=(PublishedSummary("s3", "javascript:alert(1)", "https://k.example/key.asc"),),
        )
    )
    assert "<script" not in html
    assert html.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") == 3
    assert 'href="javascript:' not in html
    assert '<span class="unsafe-url">javascript:alert(1)</span>' in html


def test_report_links_published_urls_and_logs(tmp_path: Path) -> None:
    html = render_report(
        summary(
            target("amd64-deb", FULL, log="/var/log/relorch/amd64-deb.log"),
            target("arm64-deb", FULL, log="https://ci.example.org/logs/arm64-deb.log"),
            target("amd64-rpm", FULL),
        )
    )
    assert '<a href="https://repo.example.org">https://repo.example.org</a>' in html
    assert '<a href="https://repo.example.org/keys/hello.asc">' in html
    assert "<code>20261122t103005-a1b2c3</code>" in html
    assert '<a href="file:///var/log/relorch/amd64-deb.log">log</a>' in html
    assert '<a href="https://ci.example.org/logs/arm64-deb.log">log</a>' in html
    assert html.count(">log</a>") == 2


def test_log_href_is_relative_to_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert log_href("logs/run/amd64-deb.log", tmp_path / "reports") == "../logs/run/amd64-deb.log"
    assert log_href("logs/run/amd64-deb.log", None) == "logs/run/amd64-deb.log"
    assert log_href("javascript:alert(1)", None) is None
    assert safe_href("data:text/html,x") is None
    assert safe_href("https://repo.example.org") == "https://repo.example.org"


def test_write_report_is_atomic_and_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "reports" / "nested" / "run.html"
    written = write_report(summary(target("amd64-deb", FULL, log="logs/amd64-deb.log")), path)
    assert written == path
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert '<a href="../../logs/amd64-deb.log">log</a>' in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["run.html"]  # no temporary file left


def test_write_report_keeps_the_old_page_when_rendering_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.html"
    path.write_text("old")

    def broken(*_: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr("orchestrator.release.report.os.fsync", broken)
    with pytest.raises(RuntimeError):
        write_report(summary(), path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.html"]


def test_report_lists_the_images_a_run_pushed() -> None:
    image = ImageSummary("amd64-image", "127.79.0.1:5000/hello:1.2.3", "sha256:" + "ab" * 32)
    html = render_report(summary(target("amd64-image", FULL), published=(), images=(image,)))
    assert "<code>127.79.0.1:5000/hello:1.2.3</code>" in html and "ab" * 32 in html
    assert "Nothing was published by this run." not in html
