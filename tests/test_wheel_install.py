"""A built wheel, installed non-editable into a fresh venv, runs glinker-link from another folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from conftest import BOSTON, write_dump

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_configs_and_cli_runs_elsewhere(tmp_path, tiny_model_dir):
    # build from a copy: setuptools writes build/ and *.egg-info into the source folder
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for pkg in ("glinker", "kb_build"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "local"))
    wheels = tmp_path / "wheels"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(wheels)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = wheels.glob("glinker_wikidata-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "glinker/conf/link.yaml" in names and "glinker/conf/detector/bi_encoder.yaml" in names
    assert "glinker/conf/hydra/job_logging/stderr.yaml" in names

    # a fresh venv that borrows the heavy dependencies from this interpreter but holds its own glinker
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q",
                          str(wheel)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH="")
    where = subprocess.run([str(py), "-c", "import glinker, kb_build; print(glinker.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, env=env)
    assert str(env_dir) in where.stdout, f"glinker imported from {where.stdout!r}, not the venv's install"
    dump = write_dump(elsewhere / "boston.json.bz2", BOSTON)
    build = subprocess.run([str(env_dir / "bin" / "glinker-kb-build"), f"dump={dump}", "output_dir=kb",
                            f"model={tiny_model_dir}", "progress=false"], cwd=elsewhere, capture_output=True,
                           text=True, env=env, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    link = subprocess.run([str(env_dir / "bin" / "glinker-link"), "kb_dir=kb", f"detector.model={tiny_model_dir}",
                           "text=Boston, a city in Massachusetts."], cwd=elsewhere, capture_output=True, text=True,
                          env=env, timeout=600)
    assert link.returncode == 0, link.stderr[-2000:]
    row = json.loads(link.stdout.splitlines()[0])
    assert row["text"] == "Boston, a city in Massachusetts." and "mentions" in row
    assert not (elsewhere / ".hydra").exists() and not (elsewhere / "outputs").exists()
