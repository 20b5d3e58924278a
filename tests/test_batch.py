"""Batch runs: papermill per client into reports/<client>/, failures isolated, old reports kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from ipm_analysis.batch import FAILED_DIR, REPORT_HTML, run_batch, run_client

from .conftest import write_client
from .test_summary import check_report_summary


def _notebook(folder, name, code):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    params = nbformat.v4.new_code_cell('client_dir = ""\noutput_dir = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


@pytest.fixture
def probe_notebooks(tmp_path):
    """A report notebook that records the parameters it got, and fails for the client 'broken'."""
    nbs = tmp_path / "notebooks"
    _notebook(nbs, "01_probe.ipynb", (
        "import json, pathlib\n"
        "import ipm_analysis as ipm\n"
        "client = ipm.load_client(client_dir)\n"
        "pathlib.Path(output_dir, 'probe.json').write_text(json.dumps({'id': client.id, 'type': type(client.id).__name__}))\n"
        "print('client', client.id)\n"
        "assert pathlib.Path(client_dir, 'FAIL').exists() is False, 'this client is set to fail'\n"
    ))
    return nbs


def test_batch_writes_notebooks_html_and_keeps_string_ids(tmp_path, probe_notebooks):
    good = write_client(tmp_path / "clients" / "good")
    runs = run_batch([good], tmp_path / "reports", probe_notebooks)
    assert [r.status for r in runs] == ["ok"]
    out = tmp_path / "reports" / "007"
    assert (out / "01_probe.ipynb").exists() and (out / REPORT_HTML).exists()
    assert json.loads((out / "probe.json").read_text()) == {"id": "007", "type": "str"}
    html = (out / REPORT_HTML).read_text()
    assert "client 007" in html
    assert "ipm.load_client" not in html  # code is hidden in the report
    assert "https://cdn" not in html and "<script src=\"http" not in html  # opens offline
    summary = json.loads((tmp_path / "reports" / "last_run.json").read_text())
    assert summary[0]["client"] == "007" and summary[0]["status"] == "ok"


def test_failing_client_keeps_old_report_and_others_complete(tmp_path, probe_notebooks, base_config):
    reports = tmp_path / "reports"
    good = write_client(tmp_path / "clients" / "good")
    base_config["id"] = "other"
    other = write_client(tmp_path / "clients" / "other", base_config)
    assert run_client(other, reports, sorted(probe_notebooks.glob("*.ipynb"))).status == "ok"
    old_html = (reports / "other" / REPORT_HTML).read_bytes()
    (other / "FAIL").write_text("")
    runs = run_batch([other, good], reports, probe_notebooks)
    assert [r.status for r in runs] == ["failed", "ok"]
    assert "this client is set to fail" in runs[0].message
    # the previous good report is untouched; the failed run is kept for diagnosis
    assert (reports / "other" / REPORT_HTML).read_bytes() == old_html
    failed_nb = nbformat.read(reports / "other" / FAILED_DIR / "01_probe.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in failed_nb.cells for o in c.get("outputs", []))
    assert failed_nb.metadata.papermill.parameters["client_dir"] == "../../../clients/other"
    assert (reports / "007" / REPORT_HTML).exists()
    # a later good run replaces the report and clears the failed run
    (other / "FAIL").unlink()
    assert run_client(other, reports, sorted(probe_notebooks.glob("*.ipynb"))).status == "ok"
    assert not (reports / "other" / FAILED_DIR).exists()
    assert not [p for p in reports.iterdir() if p.name.startswith(".")], "no staging folders left behind"


def test_invalid_client_is_not_run_and_nothing_is_written(tmp_path, probe_notebooks):
    bad = write_client(tmp_path / "clients" / "bad", responses_csv="response_id\n")
    runs = run_batch([bad], tmp_path / "reports", probe_notebooks)
    assert runs[0].status == "invalid" and "responses.csv" in runs[0].message
    assert not (tmp_path / "reports" / "007").exists()


def test_real_notebooks_run_on_the_tiny_client(tmp_path):
    """The project's report notebooks run top to bottom on another client than their default."""
    client = write_client(tmp_path / "clients" / "tiny")
    runs = run_batch([client], tmp_path / "reports")
    assert runs[0].status == "ok", runs[0].message
    out = tmp_path / "reports" / "007"
    summary = json.loads((out / "summary.json").read_text())
    check_report_summary(out)
    assert summary["overview"]["client"] == "007"
    assert summary["overview"]["result_kpi"] is None  # 4 responses: below the minimum base
    assert "below the minimum base" in (out / REPORT_HTML).read_text()
    html = (out / REPORT_HTML).read_text()
    assert "Traceback" not in html
    assert html.count("data:image/png;base64") >= 2  # the figures are in the report
    # manager first: the summary opens the report, the methods note closes it
    assert html.index("ipm-summary") < html.index("Data overview and result KPI") < html.index("How to read this report")
    # beside it the workbook for managers who work in Excel: the chain KPIs as summary.json states them
    import openpyxl

    wb = openpyxl.load_workbook(out / "actions.xlsx")
    kpis = [[c.value for c in row] for row in wb["Chain KPIs"].iter_rows(min_row=2)]
    assert [(r[2], r[5]) for r in kpis] == [(k["kpi_name"], k["value"]) for k in summary["overview"]["chain_kpis"]]


def test_kept_notebooks_name_the_client_relative_to_the_report_and_rerun_in_place(tmp_path):
    """The executed notebooks in reports/<client>/ carry no machine paths of the job (the
    client folder's absolute path, the job's temporary folder) and run again where they lie,
    writing nothing."""
    import papermill as pm

    client = write_client(tmp_path / "clients" / "tiny")
    runs = run_batch([client], tmp_path / "reports", serial=True)
    assert runs[0].status == "ok", runs[0].message
    out = tmp_path / "reports" / "007"
    for path in sorted(out.glob("*.ipynb")):
        text = path.read_text()
        assert str(tmp_path) not in text and "ipm-007-" not in text and "ipm-job-" not in text, path.name
        nb = nbformat.reads(text, as_version=4)
        injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        assert 'client_dir = "../../clients/tiny"' in injected.source
        assert 'output_dir = ""' in injected.source
        assert "client_cache = None" in injected.source  # the job's cache is gone: a re-run reads the files
        assert nb.metadata.papermill.parameters == {"client_dir": "../../clients/tiny", "output_dir": "",
                                                    "client_cache": None}
        assert nb.metadata.papermill.input_path == path.name
    summary = (out / "summary.json").read_bytes()
    pm.execute_notebook(str(out / "01_overview.ipynb"), str(tmp_path / "again.ipynb"), cwd=str(out),
                        kernel_name="python3", progress_bar=False)
    again = nbformat.read(tmp_path / "again.ipynb", as_version=4)
    assert not [o for c in again.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert (out / "summary.json").read_bytes() == summary  # a re-run writes nothing


def test_portable_notebook_keeps_what_it_cannot_read(tmp_path):
    from ipm_analysis.batch import portable_notebook

    assert portable_notebook(b"\xff not a notebook", tmp_path, tmp_path) == b"\xff not a notebook"
    assert portable_notebook(b"{}", tmp_path, tmp_path) == b"{}"


def _text_outputs(nb) -> list[str]:
    """Per code cell (parameters left out), everything it printed or displayed as text."""
    out = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or "parameters" in tags or "injected-parameters" in tags:
            continue
        parts = []
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                parts.append(o.text)
            elif "data" in o:
                parts += [o.data.get("text/plain", ""), o.data.get("text/html", "")]
        out.append("".join(parts))
    return out


def test_notebooks_in_one_shared_kernel_print_what_they_print_alone(tmp_path, monkeypatch):
    """On a Dask worker one kernel runs every notebook of every job, reset between notebooks.
    Every notebook must print exactly what it prints in a kernel of its own, also after another
    client's notebooks ran in that kernel: the committed notebooks, which nbval re-executes
    alone, ran on the same fixture client."""
    import nbformat

    from ipm_analysis.batch import engines as batch
    from ipm_analysis.batch import execute_job, package_root, report_notebooks

    monkeypatch.setattr(batch, "_on_dask_worker", lambda: True)  # keep the kernel as a worker does
    nbs = report_notebooks()
    pairs = [(p.name, p.read_text(encoding="utf-8")) for p in nbs]
    try:
        other = execute_job(str(write_client(tmp_path / "tiny")), pairs)
        kernel = batch._WORKER_KERNEL
        result = execute_job(str(package_root() / "tests" / "fixtures" / "clients" / "fixture"), pairs)
        assert batch._WORKER_KERNEL is kernel is not None  # the same kernel served both jobs
    finally:
        if batch._WORKER_KERNEL is not None:
            batch._WORKER_KERNEL.shutdown()
            batch._WORKER_KERNEL = None
    assert other.status == "ok" and result.status == "ok", other.message + result.message
    for p in nbs:
        shared = nbformat.reads(result.files[p.name].decode("utf-8"), as_version=4)
        alone = nbformat.read(p, as_version=4)
        assert _text_outputs(shared) == _text_outputs(alone), p.name
        counts = [c.execution_count for c in shared.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1)), p.name  # numbered as in a kernel of its own


def test_notebook_tasks_in_any_order_make_the_same_report(monkeypatch):
    """The Dask path: prepare once, each notebook as its own task (here in reverse order, in a
    worker's shared kernel), assemble. Every notebook prints what the committed one prints, and
    summary.json has every notebook's section, in report order."""
    import json

    import nbformat

    from ipm_analysis.batch import engines as batch
    from ipm_analysis.batch import assemble_job, notebook_job, package_root, prepare_job, report_notebooks

    monkeypatch.setattr(batch, "_on_dask_worker", lambda: True)
    nbs = report_notebooks()
    prep = prepare_job(str(package_root() / "tests" / "fixtures" / "clients" / "fixture"))
    assert prep.status == "ok" and prep.cache and prep.client_id == "fixture"
    try:
        done = {p.name: notebook_job(prep, p.name, p.read_text(encoding="utf-8")) for p in reversed(nbs)}
    finally:
        if batch._WORKER_KERNEL is not None:
            batch._WORKER_KERNEL.shutdown()
            batch._WORKER_KERNEL = None
    result = assemble_job([done[p.name] for p in nbs])
    assert result.status == "ok", result.message
    for p in nbs:
        ran = nbformat.reads(result.files[p.name].decode("utf-8"), as_version=4)
        assert _text_outputs(ran) == _text_outputs(nbformat.read(p, as_version=4)), p.name
    summary = json.loads(result.files["summary.json"])
    assert list(summary) == ["schema_version", "overview", "kpi_structure", "drivers", "journeys", "actions"]
    assert b"<html" in result.files[REPORT_HTML][:2000].lower() and set(result.notebook_seconds) == {p.name for p in nbs}


def test_batch_import_leaves_notebook_validation_and_later_imports_working():
    """Importing the batch module skips jsonschema's slow IRI checks for nbformat only: notebooks
    still validate (a broken one is still refused) and rfc3987_syntax imports normally later."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import ipm_analysis.batch as b\n"
        "assert 'rfc3987_syntax' not in sys.modules, 'the IRI grammar was built on import'\n"
        "nb = b.nbformat.v4.new_notebook(cells=[b.nbformat.v4.new_code_cell('1')])\n"
        "b.nbformat.validate(nb)\n"
        "nb.cells[0]['source'] = 5\n"
        "try:\n"
        "    b.nbformat.validate(nb)\n"
        "except b.nbformat.ValidationError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('an invalid notebook passed')\n"
        "import rfc3987_syntax\n"
        "assert rfc3987_syntax.is_valid_syntax('iri', 'https://example.org/a')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_task_keys_group_each_notebook_across_clients_for_dask(tmp_path):
    """Dask learns a task's expected duration from its key prefix: each notebook (and prepare,
    assemble) has one prefix across all clients, so what 02 cost for one client predicts the next."""
    from pathlib import Path

    from dask.utils import key_split

    from ipm_analysis.batch.schedule import _Pending, _submit_client

    class Recorder:
        def __init__(self):
            self.keys = []

        def submit(self, fn, *args, key, priority, **kw):
            self.keys.append(key)
            return key

    rec = Recorder()
    notebooks = [("01_overview.ipynb", ""), ("02_kpi_structure.ipynb", ""), ("03-drivers v2.ipynb", "")]
    for client in ("koffie", "web-winkel", "woonstad"):
        _submit_client(rec, _Pending(Path("/data") / client, "ab" * 32), notebooks, None)
    prefixes = [key_split(k) for k in rec.keys]
    per_client = ["ipm_prepare", "ipm_01_overview", "ipm_02_kpi_structure", "ipm_03_drivers_v2", "ipm_assemble"]
    assert prefixes == per_client * 3
    assert len(set(rec.keys)) == len(rec.keys)  # every task its own key


def test_bigger_clients_are_submitted_first(tmp_path):
    from ipm_analysis.batch.schedule import _Pending, _priorities

    sizes = {"a": 10, "b": 3000, "c": 10, "d": 500}
    todo = []
    for name, n in sizes.items():
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "events.csv").write_bytes(b"x" * n)
        todo.append(_Pending(tmp_path / name, "digest"))
    prio = dict(zip(sizes, _priorities(todo)))
    assert sorted(prio, key=prio.get, reverse=True) == ["b", "d", "a", "c"]  # equal sizes: given order


def test_tasks_start_by_client_size_then_by_the_notebooks_recorded_time(tmp_path):
    """Within a client the notebook that took longest when last executed runs first (so the
    batch ends on short tasks); prepare before them, assemble after; a client with a higher
    priority entirely before one with a lower."""
    from pathlib import Path

    from ipm_analysis.batch.schedule import _Pending, _submit_client, recorded_seconds

    def timed(seconds):
        nb = nbformat.v4.new_notebook()
        cells = []
        for i, s in enumerate(seconds):
            c = nbformat.v4.new_code_cell("pass")
            c.metadata["execution"] = {"iopub.execute_input": f"2026-01-01T10:00:0{i}.000000Z",
                                       "shell.execute_reply": f"2026-01-01T10:00:0{i}.{int(s * 10)}00000Z"}
            cells.append(c)
        nb.cells = cells
        return nbformat.writes(nb)

    notebooks = [("01_a.ipynb", timed([0.1])), ("02_b.ipynb", timed([0.3, 0.4])), ("03_c.ipynb", nbformat.writes(
        nbformat.v4.new_notebook())), ("04_d.ipynb", timed([0.5]))]
    assert [round(recorded_seconds(t), 3) for _, t in notebooks] == [0.1, 0.7, 0.0, 0.5]

    class Recorder:
        def __init__(self):
            self.priority = {}

        def submit(self, fn, *args, key, priority, **kw):
            self.priority[key] = priority
            return key

    rec = Recorder()
    for client, prio in (("small", 1), ("big", 2)):
        _submit_client(rec, _Pending(Path("/data") / client, "ab" * 32), notebooks, None, priority=prio)
    by_priority = sorted(rec.priority, key=rec.priority.get, reverse=True)
    names = [k.split("-")[0] + ":" + k.split("-")[2] for k in by_priority]
    assert names == ["ipm_prepare:big", "ipm_02_b:big", "ipm_04_d:big", "ipm_01_a:big", "ipm_03_c:big",
                     "ipm_assemble:big",
                     "ipm_prepare:small", "ipm_02_b:small", "ipm_04_d:small", "ipm_01_a:small", "ipm_03_c:small",
                     "ipm_assemble:small"]


def test_socket_folders_of_gone_processes_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys
    import tempfile

    from ipm_analysis.batch import engines as batch

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    dead = tmp_path / f"ipm-kernel-{gone}-abc"
    live = tmp_path / f"ipm-kernel-{os.getpid()}-def"
    other = tmp_path / "ipm-kernel-notes"
    for f in (dead, live, other):
        f.mkdir()
    batch._remove_orphan_socket_folders()
    assert not dead.exists() and live.exists() and other.exists()


@pytest.mark.parametrize("where", ["checks", "job", "write"])
def test_an_unexpected_fault_in_one_client_never_stops_the_batch(tmp_path, probe_notebooks, base_config,
                                                                 monkeypatch, where):
    """A fault nobody foresaw (here a RecursionError raised on purpose: in the data checks, in
    the job, or while writing the report) fails that client alone; the others finish and the
    run summary is written."""
    from ipm_analysis import data
    from ipm_analysis.batch import schedule as batch

    good = write_client(tmp_path / "clients" / "good")
    base_config["id"] = "odd"
    odd = write_client(tmp_path / "clients" / "odd", base_config)

    def breaks(original):
        def call(first, *args, **kwargs):
            if getattr(first, "client_id", None) == "odd" or (isinstance(first, (str, Path)) and Path(first).name == "odd"):
                raise RecursionError("maximum recursion depth exceeded")
            return original(first, *args, **kwargs)
        return call

    target = {"checks": (data, "validate_client"), "job": (batch, "execute_job"), "write": (batch, "write_result")}
    module, name = target[where]
    monkeypatch.setattr(module, name, breaks(getattr(module, name)))
    runs = run_batch([odd, good], tmp_path / "reports", probe_notebooks, serial=True)
    status = {r.client_id: r.status for r in runs}
    assert status == {"odd": "failed", "007": "ok"}, [(r.client_id, r.status, r.message) for r in runs]
    assert "RecursionError" in next(r.message for r in runs if r.client_id == "odd")
    assert (tmp_path / "reports" / "007" / REPORT_HTML).is_file()
    summary = json.loads((tmp_path / "reports" / "last_run.json").read_text())
    assert {x["client"]: x["status"] for x in summary} == status
