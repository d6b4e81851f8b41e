"""The project's own tooling: one version, CI's pyproject reader."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import twolayer

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_written_once() -> None:
    # The build reads _version.py (pyproject's regex); nothing else may write a version.
    assert importlib.metadata.version("twolayer") == twolayer.__version__
    package = Path(twolayer.__file__).parent
    writers = [p.name for p in package.glob("*.py") if re.search(r"^__version__ *=",
               p.read_text(encoding="utf-8"), re.MULTILINE)]  # fmt: skip
    assert writers == ["_version.py"]


def _toml_reader() -> ModuleType:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pip's vendored copy of the same parser
        from pip._vendor import tomli as tomllib
    return tomllib


def test_ci_reads_every_requirement_list_as_tomllib_does() -> None:
    spec = importlib.util.spec_from_file_location("requires", ROOT / ".ci" / "requires.py")
    assert spec is not None and spec.loader is not None
    requires = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(requires)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    data = _toml_reader().loads(text)
    expected = {("build-system", "requires"): data["build-system"]["requires"]}
    for extra, items in data["project"]["optional-dependencies"].items():
        expected["project.optional-dependencies", extra] = items
    assert len(expected) >= 5
    for (table, key), items in expected.items():
        assert requires.string_array(text, table, key) == items, (table, key)
