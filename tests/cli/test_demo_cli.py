import json

from powertrain.cli import main


def test_demo_compares_standard_and_eat_runs(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--dataset", "synthetic", "--model", "mlp", "--epochs", "1", "--eat-lambda", "1.0",
                 "--target-accuracy", "0.3", "--device", "cpu", "--out", str(out), "-q"])  # fmt: skip
    assert code == 0
    rows = json.loads((out / "comparison.json").read_text())["runs"]
    assert [r["run"] for r in rows] == ["standard", "eat"]
    for row in rows:
        summary = json.loads((out / row["run"] / "summary.json").read_text())
        assert row["energy_j"] == summary["energy"]["total_j"] > 0
        assert row["accelerator_ratio"] == summary["accelerator"]["mean_ratio"]
        assert row["accelerator_batch_size"] == 512
    eat, std = rows[1], rows[0]
    assert eat["ratio_decrease_pct"] == 100 * (1 - eat["accelerator_ratio"] / std["accelerator_ratio"])
    printed = capsys.readouterr().out
    assert "standard training vs EAT" in printed and str(out) in printed


def test_demo_rejects_bad_epochs(capsys):
    assert main(["demo", "--epochs", "0"]) == 2
    assert "Invalid value for '--epochs'" in capsys.readouterr().err
