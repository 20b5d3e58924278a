"""The shared boundary checks: one rule for confidence levels, name lists and 0/1 columns."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ipm_analysis.checks import check_ci, is_binary, name_list, z_value
from ipm_analysis.errors import AnalysisError

PACKAGE = Path(__file__).resolve().parent.parent / "ipm_analysis"


@pytest.mark.parametrize("ci", [0.5, 0.9, 0.95, np.float64(0.99), 0.999])
def test_z_value_is_the_two_sided_normal_quantile(ci):
    assert check_ci(ci) == float(ci)
    # known truth: 1.959964 for 95 %; second route: the upper tail of the normal distribution
    assert z_value(ci) == pytest.approx(stats.norm.isf((1 - ci) / 2), rel=1e-12)
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize("ci", [0, 1, 95, -0.5, True, "0.95", None, float("nan")])
def test_check_ci_refuses_what_is_no_confidence_level(ci):
    with pytest.raises(AnalysisError, match="ci must be a confidence level"):
        check_ci(ci)


def test_name_list_forms():
    assert name_list(None, "by") == []
    assert name_list("region", "by") == ["region"]
    assert name_list(("a", "b"), "by") == ["a", "b"]
    assert name_list(iter(["a"]), "by") == ["a"]


@pytest.mark.parametrize(
    "value, single, message",
    [
        ("on_time", False, "drivers must be a list of names, got the single text 'on_time'"),
        (3, True, "drivers must be a name or a list of names, got int 3"),
        (b"ab", True, "drivers must be a name or a list of names"),
        (["a", 1], True, "drivers must be names (text)"),
        (["a", "b", "a"], True, "drivers lists the same name more than once: ['a']"),
    ],
)
def test_name_list_refusals_name_the_argument(value, single, message):
    with pytest.raises(AnalysisError) as e:
        name_list(value, "drivers", single=single)
    assert message in str(e.value)


def test_is_binary():
    assert is_binary(np.array([0.0, 1.0, 1.0]))
    assert not is_binary(np.array([0.0, 0.5]))


def test_no_private_name_is_imported_across_modules():
    """A module uses only the public names of another; what two modules share is made public.
    The modules of one subpackage (``journeys/``, ``kpis/``) may share helpers private to that package."""
    found = []
    modules = {p.stem for p in PACKAGE.rglob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            sibling = isinstance(node, ast.ImportFrom) and node.level == 1 and path.parent != PACKAGE
            if isinstance(node, ast.ImportFrom) and not sibling and (node.level or (node.module or "").startswith("ipm_analysis")):
                found += [f"{path.name}: from {node.module} import {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert not found, found
