"""The Dockerfile, checked statically (no Docker daemon on this machine), and the systemd units.

The image must install Python exactly as `make install` does, through
deploy/python/install.sh, with every file that script reads copied in first.
The units pass ``systemd-analyze verify`` (with paths moved into this checkout).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
UNITS = ROOT / "deploy" / "systemd"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_image_installs_with_the_install_script_that_make_install_runs() -> None:
    steps = instructions()
    runs = [rest for word, rest in steps if word == "RUN"]
    installs = [r for r in runs if "install.sh" in r or "pip" in r]
    assert installs == ["PYTHON=python3 bash deploy/python/install.sh /opt/txmon/.venv"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "bash deploy/python/install.sh $(VENV)" in makefile  # the same script, the same way
    install_at = next(i for i, (w, r) in enumerate(steps) if w == "RUN" and "install.sh" in r)
    copied = [shlex.split(r)[:-1] for w, r in steps[:install_at] if w == "COPY"]
    sources = {src.rstrip("/") for srcs in copied for src in srcs}
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    needed = {"pyproject.toml", "requirements.lock", "README.md", "deploy/python"}
    needed |= {p.rstrip("*") for p in packages["find"]["include"]}
    assert needed <= sources, f"install.sh needs {sorted(needed - sources)} copied before it runs"
    for src in sources:
        assert (ROOT / src).exists(), src


def test_the_image_runs_txmon_as_a_non_root_user_on_the_default_ports() -> None:
    steps = dict(instructions()[::-1])  # first occurrence wins
    assert steps["FROM"].startswith("python:3.11-") and "latest" not in steps["FROM"]
    assert steps["USER"].split(":")[0] not in {"0", "root"}
    assert steps["ENTRYPOINT"] == '["/opt/txmon/.venv/bin/txmon"]'
    defaults = Settings.model_fields
    exposed = {int(p) for p in steps["EXPOSE"].split()}
    assert exposed == {defaults["web_port"].default, defaults["console_port"].default}
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".cache", ".run", ".git", ".env"} <= set(ignored)


@pytest.mark.parametrize("unit", ["txmon-worker@1.service", "txmon-console.service", "txmon.target"])
def test_systemd_units_verify(unit: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian's systemd package)"
    txmon = ROOT / ".venv" / "bin" / "txmon"
    for source in UNITS.iterdir():
        text = source.read_text(encoding="utf-8").replace("/opt/txmon/.venv/bin/txmon", str(txmon))
        (tmp_path / source.name).write_text(text.replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/"))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stdout + result.stderr


def test_worker_unit_stops_with_sigterm_and_time_to_drain() -> None:
    unit = (UNITS / "txmon-worker@.service").read_text(encoding="utf-8")
    assert "KillSignal=SIGTERM" in unit and "ExecStart=/opt/txmon/.venv/bin/txmon worker" in unit
    assert int(re.search(r"TimeoutStopSec=(\d+)", unit)[1]) >= 30  # type: ignore[index]
