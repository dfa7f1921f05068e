"""The install is reproducible: every dependency is pinned, and what runs is what is pinned."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    return {_norm(n): v for n, v in PIN.findall((ROOT / "requirements.lock").read_text())}


def _direct() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [_norm(re.split(r"[\s<>=!~;\[]", s, maxsplit=1)[0]) for s in specs]


def test_every_direct_dependency_is_locked() -> None:
    locked = _locked()
    assert [d for d in _direct() if d not in locked] == []


def test_every_locked_package_has_a_hash() -> None:
    text = (ROOT / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [b.split(" ", 1)[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
    assert unhashed == []


def test_the_environment_runs_the_locked_versions() -> None:
    """A venv that drifted from the lock (a hand `pip install -U`) fails here, not later."""
    drift = {}
    for name, version in _locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-specific pin (e.g. uvloop off Linux) need not be installed
        if installed != version:
            drift[name] = (installed, version)
    assert drift == {}
