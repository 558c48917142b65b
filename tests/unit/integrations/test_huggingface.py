"""The real Hugging Face Trainer on CPU: a tiny BERT built from a config (no download), a scripted 100 W sensor."""

from __future__ import annotations

import json
import os

import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never reach the Hub
import transformers  # noqa: E402

from powertrain.integrations.huggingface import EnergyCallback  # noqa: E402
from powertrain.meters.testing import ScriptedPowerSensor  # noqa: E402

WATTS = 100.0


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 50, (n, 8), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        mask = torch.ones(8, dtype=torch.long)
        return {"input_ids": self.ids[i], "attention_mask": mask, "labels": self.ids[i, 0] % 2}


class Recorder(transformers.TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs))


def test_trainer_logs_energy_metrics_target_and_summary(tmp_path):
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    model = transformers.BertForSequenceClassification(config)
    evaluations = []

    def score(prediction):  # 1 at the first evaluation, 2 at the second...
        evaluations.append(1)
        return {"score": float(len(evaluations))}

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=3,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        logging_steps=2,
        eval_strategy="epoch",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    sensor = ScriptedPowerSensor([WATTS], device="cpu:package-0", component="cpu")
    energy = EnergyCallback(
        target_metric="score",
        target=2,
        log_steps=True,
        sensors=[sensor],
        attribution="machine",
        sample_period_s=0.02,
        carbon=lambda energy_j, duration_s: {"co2e_kg": energy_j * 1e-7},
    )
    early = Recorder()  # before ours in the list: attach() moves ours ahead of it
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=Tokens(32),
        eval_dataset=Tokens(16),
        compute_metrics=score,
        callbacks=[early, energy],
    )
    energy.attach(trainer)
    result = trainer.train()

    summary = json.loads((tmp_path / "energy_summary.json").read_text())
    assert summary["status"] == "completed" and summary["framework"] == "huggingface"
    assert summary["energy_j"] == pytest.approx(WATTS * summary["duration_s"], rel=1e-9)
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2, 3]
    # The final training metrics carry the run's totals; the summary adds what ran after that log line.
    tail_j = summary["energy_by_phase_j"]["other"]
    assert result.metrics["energy_j"] + tail_j == pytest.approx(summary["energy_j"], rel=1e-12)
    assert result.metrics["co2e_kg"] == pytest.approx(result.metrics["energy_j"] * 1e-7)
    # Energy-to-target is the energy up to the end of the second evaluation, as logged there.
    history = trainer.state.log_history
    evals = [h for h in history if "eval_score" in h]
    assert [h["eval_score"] for h in evals] == [1.0, 2.0, 3.0]
    assert all(h["eval_energy_j"] > 0 for h in evals)
    target = summary["target"]
    assert target["reached"] and target["metric"] == "eval_score" and target["epochs_to_target"] == 2
    assert target["energy_to_target_j"] == evals[1]["energy_j"] == result.metrics["energy_to_target_j"]
    assert "energy_to_target_j" not in evals[0]
    # Training log lines: the run so far, the interval's power, per-step energy, the epoch's figures.
    lines = [h for h in history if "loss" in h]
    assert len(lines) == 6  # 4 steps per epoch x 3 epochs, every 2 steps
    cumulative = [h["energy_j"] for h in lines]
    assert cumulative == sorted(cumulative) and all(h["power_w"] == pytest.approx(WATTS) for h in lines)
    assert all(0 < h["step_energy_j"] < h["energy_j"] for h in lines)
    # Each epoch's figures ride on the first line after it ends (here: its evaluation).
    per_epoch = [e["epoch_energy_j"] for e in summary["epochs"]]
    assert [h.get("epoch_energy_j") for h in evals] == pytest.approx(per_epoch)
    assert [h["epoch_energy_j"] for h in history if "epoch_energy_j" in h] == pytest.approx(per_epoch)
    # The callback that ran after ours (attach() put ours first) saw the same figures.
    assert [log.get("energy_j") for log in early.logs] == [h.get("energy_j") for h in history]


def test_trainer_energy_goes_to_a_tracker_each_epoch(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)  # fmt: skip
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=8, logging_steps=2,
        save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    sensor = ScriptedPowerSensor([WATTS], device="cpu:package-0", component="cpu")
    energy = EnergyCallback(sensors=[sensor], sample_period_s=0.02, log=[f"tensorboard:{tmp_path / 'tb'}"])
    trainer = transformers.Trainer(model=transformers.BertForSequenceClassification(config), args=args,
                                   train_dataset=Tokens(32), callbacks=[energy])  # fmt: skip
    trainer.train()
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    totals = [(e.step, e.value) for e in acc.Scalars("energy/total_j")]
    assert totals == [(e["epoch"], pytest.approx(e["energy_j"])) for e in energy.summary["epochs"]]
    assert len(totals) == 2 and (tmp_path / "tb" / "artifacts" / "energy_summary.json").exists()
    params = acc.Tensors("params/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert "| num_train_epochs | 2 |" in params
