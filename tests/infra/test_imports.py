"""`blocked` makes an optional import fail inside the block only, and never touches a loaded module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from emostream.infra.imports import blocked


def test_an_import_fails_inside_the_block_and_works_after_it() -> None:
    name = "emostream_no_such_heavy_module"
    with blocked(name), pytest.raises(ModuleNotFoundError) as caught:
        __import__(name)
    assert caught.value.name == name
    assert name not in sys.modules, "the marker is removed when the block ends"


def test_submodules_of_a_blocked_package_fail_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an importable package, as TensorFlow is where it is installed,
    package = tmp_path / "emostream_heavy_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "docs.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # its submodule cannot be imported inside the block (MediaPipe's `from tensorflow.tools.docs import ...`),
    with blocked("emostream_heavy_pkg"), pytest.raises(ModuleNotFoundError):
        __import__("emostream_heavy_pkg.docs")
    # and can be after it.
    assert __import__("emostream_heavy_pkg.docs", fromlist=["VALUE"]).VALUE == 1
    for name in ("emostream_heavy_pkg.docs", "emostream_heavy_pkg"):
        sys.modules.pop(name, None)


def test_a_module_already_imported_is_left_alone() -> None:
    import json

    with blocked("json"):
        assert sys.modules["json"] is json
        assert __import__("json") is json
    assert sys.modules["json"] is json
