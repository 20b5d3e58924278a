"""Generating the demo clients: one client folder with its ground truth, the three demo
clients, the committed test fixture."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from . import koffie, webwinkel, woonstad
from .template import (ACTION_STREAM, CHUNK_CASES, DEFAULT_RESPONSE_RATE, DEFAULT_SEEDS, DEMO_CLIENTS, FIXTURE,
                       LARGE, NO_DRIVER_SEED_OFFSET, SIZES, _Built, _finish_truth, _write_table)


_BUILDERS: dict[str, Callable[..., _Built]] = {
    "koffie": koffie.build,
    "woonstad": woonstad.build,
    "webwinkel": webwinkel.build,
}


@dataclass(frozen=True)
class DemoClient:
    """What :func:`generate_client` wrote.

    Attributes
    ----------
    client_id, kind
        The client's id (folder name) and which generator made it.
    path
        The client folder.
    n_responses, n_cases, n_events
        Rows written per table (``n_events`` is 0 without an event log).
    truth
        The contents of ``truth.json``.
    """

    client_id: str
    kind: str
    path: Path
    n_responses: int
    n_cases: int
    n_events: int
    truth: dict = field(repr=False)

    def __fspath__(self) -> str:
        return str(self.path)


def generate_client(
    kind: str,
    out_dir: str | Path,
    n_responses: int = 20_000,
    seed: int | None = None,
    scale: float = 1.0,
    *,
    response_rate: float | None = None,
    no_driver: bool = False,
    file_format: str = "csv",
    client_id: str | None = None,
    actions: bool | None = None,
) -> DemoClient:
    """Generate one demo client folder with its ground truth.

    Parameters
    ----------
    kind
        ``"koffie"``, ``"woonstad"`` or ``"webwinkel"``.
    out_dir
        The client folder to write (created; files in it are overwritten).
    n_responses
        Survey responses before ``scale``; cases are ``n_responses / response_rate``.
    seed
        Seed of ``np.random.default_rng``; ``None`` takes the kind's default seed (plus
        ``NO_DRIVER_SEED_OFFSET`` for a no-driver client). The same arguments give
        byte-identical files.
    scale
        Multiplies ``n_responses`` (and so cases and events), e.g. ``scale=50`` for a
        benchmark client.
    response_rate
        Share of cases that carry a survey response (default 0.2, i.e. five cases per
        response; an event log of about six events per case).
    no_driver
        When true the score is independent of every chain KPI, journey deviation and contact
        (segment main effects and noise only).
    file_format
        ``"csv"`` or ``"parquet"`` for the tables (``client.yaml`` names the files).
    client_id
        The id written to ``client.yaml`` (default: ``kind``, plus ``_no_driver`` when
        ``no_driver``).
    actions
        Improvement actions with known effects and a level shift of one chain KPI (see
        :data:`ACTIONS`), drawn from their own random stream ``default_rng([seed, ACTION_STREAM])``
        so that everything else is drawn as without them; ``client.yaml`` gets ``actions:`` and
        ``truth.json`` their true effects. Default: on, except for a no-driver client.

    Returns
    -------
    DemoClient
        Paths, row counts and the truth.
    """
    if kind not in _BUILDERS:
        raise ValueError(f"kind must be one of {sorted(_BUILDERS)}, got {kind!r}")
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    if not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    n_resp = round(n_responses * scale)
    if n_resp < 50:
        raise ValueError(f"at least 50 responses are needed, got n_responses * scale = {n_resp}")
    rate = DEFAULT_RESPONSE_RATE if response_rate is None else float(response_rate)
    if not 0 < rate <= 0.7:
        raise ValueError(f"response_rate must lie in (0, 0.7], got {response_rate!r}")
    if seed is None:  # a no-driver client gets its own stream, not the normal client's noise
        seed = DEFAULT_SEEDS[kind] + (NO_DRIVER_SEED_OFFSET if no_driver else 0)
    seed = int(seed)
    cid = client_id or (kind + ("_no_driver" if no_driver else ""))
    n_cases = math.ceil(n_resp / rate)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    with_actions = (not no_driver) if actions is None else bool(actions)
    arng = np.random.default_rng([seed, ACTION_STREAM]) if with_actions else None
    built = _BUILDERS[kind](rng, n_cases, n_resp, no_driver, arng)
    ext = "." + file_format
    config = built.config(cid, ext)
    truth = _finish_truth(built, cid, seed, no_driver)

    _write_table(out / ("responses" + ext), [built.responses], file_format, built.offsets)
    _write_table(out / ("cases" + ext), [built.cases], file_format, built.offsets)
    n_events = 0
    if built.events is not None:
        chunks = (
            built.events(a, min(a + CHUNK_CASES, n_cases), np.random.default_rng([seed, 97, a // CHUNK_CASES]))
            for a in range(0, n_cases, CHUNK_CASES)
        )
        n_events = _write_table(out / ("events" + ext), chunks, file_format, built.offsets)
    truth["n_events"] = n_events
    (out / "client.yaml").write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    (out / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return DemoClient(cid, kind, out, n_resp, n_cases, n_events, truth)


def write_demo_clients(out_root: str | Path = "data/demo", size: str = "default") -> list[Path]:
    """Write the three demo clients into ``<out_root>/<client_id>/``.

    Parameters
    ----------
    out_root
        Parent folder (``data/demo`` is git-ignored).
    size
        ``"small"`` (2,000 responses each, for tests), ``"default"`` (about 20k responses,
        100k cases and 600k events per client) or ``"large"`` (koffie with 1M responses and
        about 10M events, in Parquet, for benchmarks; the others at default size, Parquet).

    Returns
    -------
    list of Path
        The client folders, in the order of :data:`DEMO_CLIENTS`.
    """
    if size not in ("small", "default", "large"):
        raise ValueError(f"size must be 'small', 'default' or 'large', got {size!r}")
    root = Path(out_root)
    dirs = []
    for kind in DEMO_CLIENTS:
        kwargs: dict[str, Any] = {"n_responses": SIZES.get(size, SIZES["default"])}
        if size == "large":
            kwargs["file_format"] = "parquet"
            if kind == LARGE["client"]:
                kwargs.update(n_responses=LARGE["n_responses"], response_rate=LARGE["response_rate"])
        dirs.append(generate_client(kind, root / kind, **kwargs).path)
    return dirs


def write_fixture(out_dir: str | Path = "tests/fixtures/clients/fixture") -> DemoClient:
    """(Re)write the committed test fixture: a small koffie copy with id ``fixture``."""
    f = dict(FIXTURE)
    return generate_client(f.pop("kind"), out_dir, **f, actions=False)
