"""`powertrain info` through the real entry point."""

from __future__ import annotations

import functools
import json

from powertrain.cli import main
from powertrain.meters import sensor_report
from powertrain.meters.testing import FakePowercap

KINDS = ["nvml-counter", "nvml-power", "rapl-package", "rapl-dram", "cpu-estimate", "null"]


def test_info_lists_every_sensor_kind_and_the_hardware(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for kind in KINDS:
        assert kind in out
    assert "energy sensors" in out and "hardware" in out and "cpu_model" in out


def test_info_json_reports_a_fake_rapl_tree(tmp_path, monkeypatch, capsys):
    FakePowercap(tmp_path, sockets=1)
    monkeypatch.setattr("powertrain.cli.info.sensor_report", functools.partial(sensor_report, rapl_root=tmp_path))
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    sensors = {s["kind"]: s for s in report["sensors"]}
    assert list(sensors) == KINDS
    assert sensors["rapl-package"] == {
        "kind": "rapl-package",
        "available": True,
        "reason": f"RAPL cpu energy counter under {tmp_path}",
        "devices": ["cpu:package-0"],
    }
    assert sensors["rapl-dram"]["devices"] == ["cpu:dram-0"]
    assert all(isinstance(s["reason"], str) and s["reason"] for s in report["sensors"])
    assert report["hardware"]["cpu_logical_cores"] >= 1


def test_info_rejects_unknown_options(capsys):
    assert main(["info", "--verbose"]) == 2
    assert capsys.readouterr().err.startswith("powertrain: error:")
