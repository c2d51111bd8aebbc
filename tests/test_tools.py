"""The developer tools in tools/ (demo, benchmarks, measurements) are not run by the tests: at least
they must compile, so `make demo` and `make bench` do not stop at a typo."""

import py_compile

import pytest

from conftest import ROOT

TOOLS = sorted((ROOT / "tools").glob("*.py"))


@pytest.mark.parametrize("path", TOOLS, ids=[p.name for p in TOOLS])
def test_tool_compiles(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / (path.stem + ".pyc")), doraise=True)
