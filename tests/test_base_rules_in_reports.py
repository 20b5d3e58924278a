"""Minimum bases hold in every output: a segment group below the suppression size never appears
in any table, figure, summary or notebook of a report; a small group is shown and flagged."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from ipm_analysis.batch import REPORT_HTML, run_client

from .conftest import FIXTURE_CLIENT


@pytest.fixture(scope="module")
def report_with_tiny_segment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("client") / "tiny-segment"
    shutil.copytree(FIXTURE_CLIENT, folder)
    cfg = yaml.safe_load((folder / "client.yaml").read_text())
    cfg["id"] = "tiny-segment"
    cfg["segments"].append({"id": "region", "name": "Region", "table": "responses", "column": "region"})
    cfg["segments"].append({"id": "depot", "name": "Depot", "table": "cases", "column": "depot"})
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = pd.read_csv(folder / "responses.csv", dtype=str, keep_default_na=False)
    region = ["north" if i % 2 else "south" for i in range(len(r))]
    region[:5] = ["zzrare"] * 5            # below the suppression size (10)
    region[5:25] = ["zzsmall"] * 20         # below the flag size (30): shown, flagged
    r["region"] = region
    r.to_csv(folder / "responses.csv", index=False)
    c = pd.read_csv(folder / "cases.csv", dtype=str, keep_default_na=False)
    depot = ["east" if i % 2 else "west" for i in range(len(c))]
    depot[:4] = ["zzdepot"] * 4
    c["depot"] = depot
    c.to_csv(folder / "cases.csv", index=False)
    out = tmp_path_factory.mktemp("reports")
    run = run_client(folder, out)
    assert run.status == "ok", run.message
    return out / "tiny-segment"


def _all_text(report_dir):
    texts = {}
    for p in report_dir.rglob("*"):
        if p.is_file() and p.suffix in (".html", ".json", ".ipynb"):
            texts[p.name] = p.read_text(encoding="utf-8")
    return texts


def test_group_below_suppression_size_appears_nowhere(report_with_tiny_segment):
    texts = _all_text(report_with_tiny_segment)
    assert REPORT_HTML in texts and "summary.json" in texts
    for name, text in texts.items():
        assert "zzrare" not in text, f"a group of 5 responses appears in {name}"
        assert "zzdepot" not in text, f"a group of 4 cases appears in {name}"


def test_small_group_is_shown_and_flagged(report_with_tiny_segment):
    nb = json.loads((report_with_tiny_segment / "02_kpi_structure.ipynb").read_text())
    outputs = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    line = next(ln for ln in outputs.splitlines() if "zzsmall" in ln)
    assert line.split()[-1] == "yes", line  # the small-base mark
    assert "20" in line.split()
