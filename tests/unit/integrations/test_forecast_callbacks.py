"""The integrations' forecasts: EnergyTracker after each evaluated epoch, the Lightning and Hugging Face callbacks."""

from __future__ import annotations

import json
import os

import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never reach the Hub
import lightning.pytorch as L  # noqa: E402
import transformers  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from powertrain.integrations.huggingface import EnergyCallback as HFCallback  # noqa: E402
from powertrain.integrations.lightning import EnergyCallback  # noqa: E402
from powertrain.integrations.tracker import EnergyTracker  # noqa: E402
from powertrain.meters.testing import FakeClock, ScriptedPowerSensor  # noqa: E402

ACCURACY = [0.70, 0.78, 0.82, 0.84, 0.86, 0.87]


def test_the_tracker_forecasts_after_each_observed_epoch_and_keeps_them_in_its_summary(tmp_path):
    clock = FakeClock()
    sensor = ScriptedPowerSensor([100.0], device="cpu:0", component="cpu", clock=clock)
    # machine-wide: the scripted 100 W is the run's whole energy (this process's real CPU share would vary with load)
    tracker = EnergyTracker(sensors=[sensor], target_metric="acc", target=0.85, planned_epochs=6, carbon=False,
                            sample_period_s=None, clock=clock, attribution="machine").start()  # fmt: skip
    for epoch, acc in enumerate(ACCURACY[:3], start=1):
        tracker.begin_epoch(epoch)
        clock.advance(10.0)
        figures = tracker.end_epoch({"acc": acc})
        assert figures["forecast"]["epochs_seen"] == epoch
    f = tracker.forecasts.latest
    assert not f.reached and f.energy_j.median > 3000.0  # 1 kJ per epoch, 3 seen, the target not yet reached
    assert set(tracker.forecasts.figures()) == {"forecast_probability", "forecast_energy_to_target_j"}
    summary = tracker.finish(path=tmp_path / "s.json")
    assert [f["epochs_seen"] for f in summary["forecasts"]] == [1, 2, 3]
    loss = EnergyTracker(sensors=[], target_metric="loss", target=0.1, mode="min", planned_epochs=6, carbon=False)
    loss.observe({"loss": 0.5}, epoch=1)
    assert loss.forecasts.latest is None  # a loss target: no forecast (the model is for accuracies)


class Net(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        pass

    def on_validation_epoch_end(self):
        self.log("val_acc", ACCURACY[self.current_epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _data(n: int = 32) -> DataLoader:
    x = torch.randn(n, 8, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=16)


def test_the_lightning_callback_logs_the_forecast_and_writes_it_in_the_summary(tmp_path):
    energy = EnergyCallback(target_metric="val_acc", target=0.85, carbon=False, sample_period_s=0.02,
                            sensors=[ScriptedPowerSensor([100.0], device="cpu:0", component="cpu")])  # fmt: skip
    trainer = L.Trainer(max_epochs=4, accelerator="cpu", devices=1, logger=L.loggers.CSVLogger(tmp_path, name="run"),
                        callbacks=[energy], enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)  # fmt: skip
    trainer.fit(Net(), _data(), _data(16))
    summary = json.loads((tmp_path / "run" / "version_0" / "energy_summary.json").read_text())
    made = summary["forecasts"]
    assert [f["epochs_seen"] for f in made] == [1, 2, 3, 4] and made[0]["planned_epochs"] == 4
    assert not made[2]["reached"] and made[3]["reached"] is False  # 0.84 after 4 of 4 epochs: not reached
    logged = (tmp_path / "run" / "version_0" / "metrics.csv").read_text()
    assert "energy/forecast_probability" in logged


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.ids = torch.randint(0, 50, (n, 8), generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        mask = torch.ones(8, dtype=torch.long)
        return {"input_ids": self.ids[i], "attention_mask": mask, "labels": self.ids[i, 0] % 2}


def test_the_hugging_face_callback_adds_the_forecast_to_each_evaluation_line(tmp_path):
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)  # fmt: skip
    scores = iter(ACCURACY)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), num_train_epochs=3, per_device_train_batch_size=8,
                                          eval_strategy="epoch", save_strategy="no", report_to=[], use_cpu=True,
                                          disable_tqdm=True, logging_steps=100)  # fmt: skip
    energy = HFCallback(target_metric="accuracy", target=0.85, carbon=False, sample_period_s=0.02,
                        sensors=[ScriptedPowerSensor([100.0], device="cpu:0", component="cpu")])  # fmt: skip
    trainer = transformers.Trainer(model=transformers.BertForSequenceClassification(config), args=args,
                                   train_dataset=Tokens(16), eval_dataset=Tokens(8),
                                   compute_metrics=lambda p: {"accuracy": next(scores)},
                                   callbacks=[energy])  # fmt: skip
    trainer.train()
    evals = [h for h in trainer.state.log_history if "eval_accuracy" in h]
    assert all("forecast_probability" in h for h in evals[:2])
    assert [f["epochs_seen"] for f in energy.summary["forecasts"]] == [1, 2, 3]
    assert pytest.approx(evals[0]["forecast_probability"]) == energy.summary["forecasts"][0]["probability"]
