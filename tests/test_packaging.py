"""The project's own promises: install files agree, notebooks use the documented kernel,
CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib

import nbformat
import yaml

from .conftest import ROOT

CONDA_NAMES = {"duckdb": "python-duckdb"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {CONDA_NAMES.get(_name(r), _name(r)) for r in project["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert conda == wanted
    pip_part = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert '-e ".[dev]"' in pip_part and "-c constraints.txt" in pip_part


def test_constraints_pin_every_dependency():
    pins = {_name(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line and not line.startswith("#")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    missing = {_name(d) for d in deps} - pins
    assert not missing, f"not pinned in constraints.txt: {missing}"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip()]
    # the last line runs the tests; lines before it only prepare the machine (e.g. chromium)
    assert f"\n{ci_lines[-1]}\n" in readme
    assert "pytest" in ci_lines[-1] and not any("pytest" in ln for ln in ci_lines[:-1])


def test_notebooks_use_the_python3_kernel_and_have_parameters():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")  # the kernel papermill will ask for
    assert "ipykernel" in " ".join(spec.argv)
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
        assert "client_dir" in tagged[0].source and "output_dir" in tagged[0].source


def test_report_notebooks_are_numbered_in_reading_order():
    from ipm_analysis.batch import report_notebooks

    names = [p.name for p in report_notebooks()]
    assert names[0].startswith("01_") and names == sorted(names)


def test_a_wheel_install_carries_the_notebooks_and_runs_a_client(tmp_path):
    """A non-editable install (the wheel) holds the report notebooks and runs a client with them."""
    import subprocess
    import sys
    import zipfile

    import pytest

    pytest.importorskip("setuptools", minversion="77")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheels), str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = wheels.glob("ipm_analysis-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.split("/")[-1] for n in names if n.startswith("ipm_analysis/notebooks/"))
    assert shipped == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    # the installed copy, not the checkout, from a folder outside the checkout
    import os

    env = dict(os.environ, PYTHONPATH=str(site))
    where = subprocess.run([sys.executable, "-c", "import ipm_analysis.batch as b; print(b.__file__);"
                            "print(b.report_notebooks()[0])"], capture_output=True, text=True, env=env,
                           cwd=tmp_path, check=True).stdout.split()
    assert all(w.startswith(str(site)) for w in where), where
    cmd = [sys.executable, "-m", "ipm_analysis.cli"]
    subprocess.run([*cmd, "demo", "--size", "small"], check=True, capture_output=True, env=env, cwd=tmp_path)
    run = subprocess.run([*cmd, "run", "data/demo/koffie", "--serial", "--out", "out"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "out" / "koffie" / "report.html").is_file()
    assert "Kernel is running over TCP" not in run.stdout + run.stderr  # local sockets: nothing to warn about
