"""build_report and `powertrain report`: what the page and the summary hold, escaping, and bad input."""

from __future__ import annotations

import re
import shutil

import pytest

from powertrain.carbon import CarbonSettings
from powertrain.cli import main
from powertrain.errors import ConfigError
from powertrain.report import ReportInputError, build_report, load_inputs


def test_inputs_are_recognised_by_what_is_on_disk(report_inputs):
    loaded = load_inputs([report_inputs["runs"][0].run_dir, report_inputs["sweep"], report_inputs["eat"]])
    assert [r.name for r in loaded.runs] == ["standard"]
    assert [e["epoch"] for e in loaded.runs[0].epochs] == [1, 2]  # numbered from 1, as everywhere
    assert [s.kind for s in loaded.studies] == ["sweep", "eat"]
    sweep = loaded.studies[0]
    assert [t.status for t in sweep.trials] == ["complete", "complete", "complete", "pruned"]
    assert sweep.spent_j == pytest.approx(sum(t["spent_j"] for t in report_inputs["trials"]))
    assert all(t.run is not None for t in sweep.trials)


def test_report_of_a_sweep_an_eat_study_and_a_run(report_inputs, full_report):
    result = full_report
    page = result.html.read_text()
    titles = {p.title for s in result.sections for p in s.plots}
    assert {"Power over time", "Energy per epoch", "Accuracy against cumulative energy", "Accuracy-energy Pareto front",
            "Energy-to-target by learning rate and batch size", "Spread of energy-to-target", "What the search cost",
            "Standard against EAT: accelerator energy ratio", "Per-layer firing rates",
            "Operational and embodied CO2e"} <= titles  # fmt: skip
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == result.plot_count and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:|//)', page)
    # the spread: worst / best of the three trials that reached the target
    e = [t["energy_to_target_j"] for t in report_inputs["trials"][:3]]
    assert f"{max(e) / min(e):.2f}x" in page
    md = result.markdown.read_text()
    assert "| trial | status | parameters |" in md and "Operational" not in md.split("## Carbon")[0][:10]
    assert "FRA" in md  # the runs were recorded for France: their carbon keeps that country


def test_carbon_settings_given_to_the_report_replace_the_recorded_ones(report_inputs, tmp_path):
    run = report_inputs["runs"][0]
    result = build_report([run.run_dir], out=tmp_path / "r", settings=CarbonSettings(intensity_g_per_kwh=1000.0,
                                                                                     pue=2.0))  # fmt: skip
    op_kg = run.summary["energy"]["total_j"] / 3.6e6 * 2.0 * 1000.0 / 1000
    card = next(c for c in result.cards if c.label == "operational CO2e")
    from powertrain.report._plots_runs import format_mass

    assert card.value == format_mass(op_kg)
    assert "value given by the user" in result.markdown.read_text()


def test_everything_from_the_inputs_is_escaped(report_inputs, tmp_path):
    evil = tmp_path / "<img src=x onerror=alert(1)> | run"
    shutil.copytree(report_inputs["runs"][0].run_dir, evil)
    result = build_report([evil], out=tmp_path / "rep")
    page = result.html.read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt; | run" in page
    md = result.markdown.read_text()
    assert "<img" not in md and r"&lt;img src=x onerror=alert(1)&gt; \| run" in md


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_a_path_that_is_not_a_run_or_study_is_one_line_exit_2(tmp_path, capsys, kind):
    path = tmp_path / "x"
    if kind == "empty":
        path.mkdir()
    elif kind == "file":
        path.write_text("{}")
    with pytest.raises(ReportInputError):
        build_report([path], out=tmp_path / "out")
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and len(err.strip().splitlines()) == 1


def test_an_unwritable_output_folder_is_one_line_exit_2(report_inputs, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="report folder"):
        build_report([report_inputs["runs"][0].run_dir], out=blocker / "rep")
    assert main(["report", str(report_inputs["runs"][0].run_dir), "--out", str(blocker / "rep")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_merged_machines_get_a_hardware_comparison_and_new_study_kinds_plug_in(report_inputs, tmp_path, monkeypatch):
    import json

    from powertrain.report import (
        StudyData,
        Table,
        _load,
        _sections,
        new_figure,
        register_loader,
        register_section,
        to_plot,
    )

    other = tmp_path / "h100-run"
    shutil.copytree(report_inputs["runs"][0].run_dir, other)
    summary = json.loads((other / "summary.json").read_text())
    summary["hardware"]["gpus"] = [{"name": "NVIDIA H100 80GB HBM3"}]
    (other / "summary.json").write_text(json.dumps(summary))
    transfer = tmp_path / "transfer"
    transfer.mkdir()
    (transfer / "transfer.json").write_text("{}")
    monkeypatch.setattr(_load, "LOADERS", list(_load.LOADERS))
    monkeypatch.setattr(_sections, "SECTION_BUILDERS", {})
    facts = {"pretrain_energy_j": 300.0, "scratch_energy_to_target_j": 100.0, "finetune_energy_to_target_j": 40.0}
    register_loader("transfer", lambda p: (p / "transfer.json").is_file(),
                    lambda p: StudyData("transfer", p.name, p, [], facts=facts))  # fmt: skip

    def transfer_section(study, entries):
        with new_figure() as fig:
            fig.axes[0].bar(["scratch", "fine-tune"], [study.facts["scratch_energy_to_target_j"], 40.0])
            plot = to_plot(fig, "tasks", "Energy per downstream task", "scratch against fine-tuning, joules")
        return [plot, None, Table("Downstream <tasks>", ["task", "J"], [["cifar10", "40.0"]])]

    register_section("transfer", transfer_section)
    result = build_report([report_inputs["runs"][0].run_dir, other, transfer], out=tmp_path / "rep")
    titles = [p.title for s in result.sections for p in s.plots]
    assert "Hardware comparison" in titles and "Transfer break-even" in titles
    assert "Energy per downstream task" in titles  # the plug-in's own plot and table, escaped like the rest
    assert "Downstream &lt;tasks&gt;" in result.html.read_text()
    md = result.markdown.read_text()
    assert "1x NVIDIA H100 80GB HBM3" in md
    # the H100 row of the embodied table (it holds its host share: no host server for that run)
    assert "NVIDIA H100 GPU (1/8 share of an 8-GPU server)" in md
