"""The train/evaluate/ensemble/export subcommands register on any argparse parser with full help."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from emostream.training import cli, ensemble, evalcli, export, pack, train


@pytest.fixture(scope="module")
def parsers() -> dict[str, argparse.ArgumentParser]:
    top = argparse.ArgumentParser(prog="emostream")
    return cli.register(top.add_subparsers(dest="command"))


def test_register_adds_the_subcommands_with_their_module_docs(parsers: dict[str, argparse.ArgumentParser]) -> None:
    modules = {"train": train, "evaluate": evalcli, "ensemble": ensemble, "export": export, "pack-data": pack}
    assert set(parsers) == set(modules)
    for name, parser in parsers.items():
        assert parser.description == modules[name].__doc__.strip(), f"{name}: description must be the module docstring"
        assert parser.get_default("func").__wrapped__ is modules[name].main, f"{name}: func must run the module's main"


@pytest.mark.parametrize("name", ["train", "evaluate", "ensemble", "export", "pack-data"])
def test_every_option_is_explained(parsers: dict[str, argparse.ArgumentParser], name: str) -> None:
    for action in parsers[name]._actions:
        assert action.help and action.help != argparse.SUPPRESS and len(action.help) > 15, (
            f"{name} {'/'.join(action.option_strings)} needs a help text"
        )


@pytest.mark.parametrize("name", ["train", "evaluate", "ensemble", "export"])
def test_help_prints_and_exits_0(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    option = "--member" if name == "ensemble" else "--data"
    assert f"usage: emostream {name}" in out and option in out, f"{name} --help must show its usage and options"


def test_missing_required_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", "--data", "x.csv"])
    assert exit_info.value.code == 2
    assert "--model" in capsys.readouterr().err


def test_registering_does_not_import_tensorflow() -> None:
    # The top-level CLI registers these subcommands for every command, `emostream run` included.
    code = (
        "import argparse, sys\n"
        "from emostream.training import cli\n"
        "cli.register(argparse.ArgumentParser().add_subparsers())\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'cv2') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]", f"registering imported heavy modules: {result.stdout.strip()}"


def test_bad_input_is_one_line_and_exit_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "fer.csv"
    bad.write_text("emotion,pixels,Usage\n9," + " ".join(["0"] * 2304) + ",PublicTest\n")
    assert cli.main(["evaluate", "--model", "mini-xception", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "emostream evaluate: error:" in err and "fer.csv:2: emotion 9" in err and "Traceback" not in err
