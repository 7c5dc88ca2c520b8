import io
import re

from rich.console import Console

from orchestrator.engine.progress import LiveProgress, PlainProgress, progress_for


def test_plain_progress_prints_one_line_per_event() -> None:
    out = io.StringIO()
    progress = PlainProgress(out)
    progress.update("amd64-deb", "building")
    progress.update("amd64-deb", "failed", "amd64-deb: build failed with exit code 2")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\d\d:\d\d:\d\d amd64-deb: building \[0\.\ds\]", lines[0])
    assert lines[1].endswith("failed [0.0s] amd64-deb: build failed with exit code 2")


def test_progress_for_a_pipe_is_plain() -> None:
    assert isinstance(progress_for(["a"], io.StringIO()), PlainProgress)


def test_live_progress_shows_one_row_per_target() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    progress = LiveProgress(["amd64-deb", "arm64-rpm"], console)
    progress.update("amd64-deb", "building")
    progress.update("arm64-rpm", "done", "1 artifact(s)")
    progress.close()
    final = out.getvalue().split("\x1b[2K")[-3:]
    text = "".join(final)
    assert "amd64-deb" in text and "building" in text
    assert "arm64-rpm" in text and "done" in text and "1 artifact(s)" in text
