"""The lstmkit command as a user runs it."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from lstmkit.cli import main
from lstmkit.progress import Progress


def test_demo_runs_from_the_command_line():
    proc = subprocess.run(
        [sys.executable, "-m", "lstmkit.cli", "demo", "--steps", "30", "--length", "8"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "adding problem, T = 8: 30/30" in proc.stdout  # plain progress lines off a TTY
    assert "LSTM says" in proc.stdout


def test_quiet_demo_prints_only_the_report(capsys):
    assert main(["demo", "--steps", "20", "--length", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "adding problem" not in out and out.startswith("The LSTM learned")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--steps", "0"], "argument --steps: expected a positive integer, got 0"),
        (["demo", "--length", "ten"], "argument --length: expected a positive integer, got 'ten'"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_arguments_exit_with_usage(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("lstmkit ")


def test_progress_plain_lines_every_tenth_and_quiet():
    stream = io.StringIO()
    with Progress(20, "work", stream=stream) as bar:
        for _ in range(20):
            bar.update(loss=0.5)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "work: 2/20  loss 0.5" and lines[-1] == "work: 20/20  loss 0.5"
    assert len(lines) == 10
    quiet = io.StringIO()
    with Progress(20, "work", quiet=True, stream=quiet) as bar:
        bar.update()
    assert quiet.getvalue() == ""
