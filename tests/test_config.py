"""client.yaml parsing: safe YAML, strict keys, ids that cannot escape the reports folder."""

from __future__ import annotations

import pytest

from ipm_analysis.config import check_client_id, load_config, parse_config
from ipm_analysis.errors import ConfigError

from .conftest import write_client


def test_base_config_parses(tiny_client):
    cfg = load_config(tiny_client)
    assert cfg.id == "007"  # quoted in YAML, stays a string
    assert [k.chain for k in cfg.kpis] == ["installation", "installation"]
    assert cfg.reporting.min_base_flag == 30 and cfg.reporting.min_base_suppress == 10


@pytest.mark.parametrize("client_id", ["..", "../x", "a/b", "/etc", "", "a" * 65, "x y", ".hidden"])
def test_unsafe_client_ids_are_refused(client_id):
    with pytest.raises(ConfigError, match="not allowed"):
        check_client_id(client_id)


def test_id_in_yaml_is_checked(base_config):
    base_config["id"] = "../../etc"
    with pytest.raises(ConfigError, match="id"):
        parse_config(base_config)


def test_unquoted_numeric_id_is_refused_with_advice(base_config):
    base_config["id"] = 7
    with pytest.raises(ConfigError, match="id"):
        parse_config(base_config)


def test_yaml_object_construction_is_refused(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "client.yaml").write_text("id: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(folder)


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "client.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="aliases"):
        load_config(folder)


def test_huge_config_is_refused(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "client.yaml").write_text("title: " + "x" * 2_000_000 + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(folder)


def test_file_names_cannot_leave_the_client_folder(base_config):
    base_config["tables"]["cases"]["file"] = "../other/cases.csv"
    with pytest.raises(ConfigError, match="inside the client folder"):
        parse_config(base_config)


def test_scale_rules(base_config):
    base_config["result_kpi"] = {"name": "Stars", "scale": "rating", "min": 1, "max": 5, "top_box": [6],
                                 "bottom_box": [1]}
    with pytest.raises(ConfigError, match="outside the scale"):
        parse_config(base_config)
    base_config["result_kpi"] = {"name": "NPS", "scale": "nps", "min": 1}
    with pytest.raises(ConfigError, match="fixed at 0-10"):
        parse_config(base_config)


def test_share_target_must_be_a_fraction(base_config):
    base_config["chains"][0]["kpis"][0]["target"] = 90
    with pytest.raises(ConfigError, match="fraction"):
        parse_config(base_config)


def test_missing_survey_config_is_consistent(tmp_path, base_config):
    del base_config["result_kpi"]
    with pytest.raises(ConfigError, match="needs a result_kpi"):
        parse_config(base_config)
