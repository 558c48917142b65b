"""The table, the selection rule and the goal check, on constructed runs (no training)."""

import pytest

from powertrain.study import EatSetting, EatStudyConfig, EatStudyResult, InferenceEnergy, RunRecord
from powertrain.study.eat.results import render_markdown
from powertrain.study.eat.table import build_table, row_cells, table_columns


def record(name, lam, accuracy, ratio, *, status="completed", j_per_image=None):
    setting = EatSetting.make(1e-4, lam, None if lam == 0 else name)
    rounds = []
    if j_per_image is not None:
        rounds = [InferenceEnergy(j_per_image * 1000, 10.0, 1000, 2, 500, "gpu:0", "counter")]
    return RunRecord(
        model="resnet18", setting=setting, run_dir=f"/x/{name}", action="trained", status=status,
        epochs_completed=3, final_accuracy=accuracy, best_accuracy=accuracy, energy_ratio=ratio,
        ratio_batch_size=512, train_energy_j=1234.0, train_energy_sources=["counter"], version="v", inference=rounds,
    )  # fmt: skip


def runs():
    return [
        record("standard", 0, 0.900, 0.80, j_per_image=0.004),
        record("lowest", 1, 0.885, 0.60, j_per_image=0.0041),  # 1.5 points lost: outside a 1-point tolerance
        record("within", 2, 0.895, 0.70, j_per_image=0.0039),  # 0.5 points lost
        record("better-acc", 3, 0.910, 0.75),
        record("broken", 4, None, None, status="diverged"),
    ]


def table(records, tolerance=0.01, goal_pct=20.0, goal_drop=0.01):
    return build_table(
        "resnet18", records, accuracy_tolerance=tolerance, goal_decrease_pct=goal_pct, goal_max_accuracy_drop=goal_drop
    )


def test_rows_compute_decrease_and_accuracy_change_from_the_runs():
    rows = {r.setting: r for r in table(runs()).rows}
    assert rows["standard"].decrease_pct is None and rows["standard"].accuracy_change_points is None
    assert rows["lowest"].decrease_pct == pytest.approx(25.0)
    assert rows["within"].decrease_pct == pytest.approx(12.5)
    assert rows["within"].accuracy_change_points == pytest.approx(-0.5)
    assert rows["better-acc"].accuracy_change_points == pytest.approx(1.0)
    assert rows["within"].inference_diff_pct == pytest.approx(-2.5)
    assert rows["better-acc"].inference_diff_pct is None and rows["better-acc"].inference == {}
    assert rows["broken"].decrease_pct is None and not rows["broken"].within_tolerance


def test_selection_is_the_lowest_ratio_within_the_tolerance():
    strict = table(runs(), tolerance=0.01)
    assert strict.selected == "within"  # "lowest" has a lower ratio but lost 1.5 points
    assert [r.setting for r in strict.rows if r.within_tolerance] == ["standard", "within", "better-acc"]
    assert [r.setting for r in strict.rows if r.selected] == ["within"]
    assert table(runs(), tolerance=0.02).selected == "lowest"
    worse = [record("standard", 0, 0.9, 0.5), record("a", 1, 0.89, 0.6)]
    assert table(worse).selected == "standard"  # EAT did not lower the ratio: standard stays the pick


def test_goal_needs_the_decrease_within_the_accuracy_limit():
    missed = table(runs()).goal
    assert missed["met"] is False and missed["setting"] == "within"
    assert missed["decrease_pct"] == pytest.approx(12.5)
    met = table(runs(), goal_drop=0.02).goal
    assert met["met"] is True and met["setting"] == "lowest"
    assert table(runs(), goal_pct=10.0).goal["met"] is True


def test_without_a_usable_standard_run_nothing_is_selected():
    records = [record("standard", 0, None, None, status="diverged"), record("a", 1, 0.9, 0.6)]
    result = table(records)
    assert result.selected is None and result.goal["met"] is None
    assert all(r.decrease_pct is None for r in result.rows)


def test_cells_and_markdown(tmp_path):
    result_table = table(runs())
    for compact in (False, True):
        columns = table_columns(result_table, compact=compact)
        assert all(len(row_cells(r, compact=compact)) == len(columns) for r in result_table.rows)
    assert "energy ratio (batch 512)" in table_columns(result_table)
    cells = row_cells(result_table.rows[2])
    assert cells[0] == "* within" and cells[1] == "1e-4" and cells[6] == "12.5%" and cells[9] == "-2.5%"
    assert cells[-1] == "counter (gpu:0)"
    config = EatStudyConfig.from_dict({"train": {"dataset": "synthetic"}, "models": ["resnet18"], "out": "o"})
    result = EatStudyResult(tmp_path, config, runs(), {"resnet18": result_table}, False, {"gpus": [], "cpu_model": "X"})
    text = render_markdown(result)
    assert "| * within | 1e-4 | 2 | 0.8950 | -0.50 | 0.700 | 12.5% |" in text
    assert "Goal met: **no**" in text and "EAT on CIFAR-10 (Table 1)" in text
    assert "counter, gpu:0" in text
