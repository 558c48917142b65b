"""bench/_harness.py: rotation, per-round ratios, returned samples, JSON report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from _harness import Sample, compare, pin_threads, spread, write_report  # noqa: E402


def test_rounds_rotate_the_order_and_ratios_pair_samples_of_the_same_round() -> None:
    calls: list[str] = []
    # each variant reports its own timing; "b" is twice "a" in every round while rounds drift by 10x

    def variant(name: str, factor: float):
        def run() -> Sample:
            calls.append(name)
            base = 10.0 ** ((len(calls) - 1) // 3)
            return Sample(wall_s=base * factor, cpu_s=base * factor * 0.5)

        return run

    result = compare(
        {"a": variant("a", 1.0), "b": variant("b", 2.0), "c": variant("c", 3.0)},
        rounds=4, baseline="a", warmup=False, name="t",
    )  # fmt: skip
    assert result.orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert calls == [v for order in result.orders for v in order]
    assert result.ratios("b", "wall") == pytest.approx([2.0] * 4)
    assert result.ratios("c", "cpu") == pytest.approx([3.0] * 4)
    assert spread(result.ratios("a")) == {"min": 1.0, "median": 1.0, "max": 1.0}


def test_harness_times_calls_that_return_nothing_and_warms_up_once() -> None:
    counts = {"x": 0}

    def busy() -> None:
        counts["x"] += 1
        sum(range(20_000))

    result = compare({"x": busy, "y": busy}, rounds=2, baseline="x")
    assert counts["x"] == 2 * 3  # warm-up + 2 rounds, two variants sharing the counter
    assert all(s.wall_s > 0 for s in result.samples["y"])
    with pytest.raises(ValueError, match="baseline"):
        compare({"x": busy}, rounds=1, baseline="nope")


def test_report_carries_method_hardware_threads_and_load(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    try:
        assert pin_threads(None, "cpu") == 1
        result = compare({"x": lambda: Sample(1.0, 1.0), "y": lambda: Sample(1.5, 1.2)}, rounds=3, baseline="x")
        path = tmp_path / "r.json"
        write_report(path, bench="t", device="cpu", settings={"p": Path("a")}, comparisons=[result], figure=1.5)
    finally:
        torch.set_num_threads(before)
    data = json.loads(path.read_text())
    assert data["hardware"]["torch_threads"] == 1 and "load_average" in data["hardware"]
    assert "interleaved" in data["method"] and data["settings"]["p"] == "a" and data["figure"] == 1.5
    y = data["comparisons"][0]["variants"]["y"]
    assert y["wall_ratio"]["median"] == pytest.approx(1.5) and y["cpu_ratios"] == pytest.approx([1.2] * 3)
