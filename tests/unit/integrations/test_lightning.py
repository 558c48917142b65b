"""The real Lightning Trainer on CPU with a tiny model and a scripted 100 W sensor."""

from __future__ import annotations

import csv
import json
import math

import lightning.pytorch as L
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from powertrain.integrations.lightning import EATCallback, EATMixin, EnergyCallback
from powertrain.meters.testing import ScriptedPowerSensor

WATTS = 100.0


def _data(n: int = 64) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=16)


class Net(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
        self.raw_losses: list[float] = []

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.raw_losses.append(float(loss.detach()))
        return loss

    def validation_step(self, batch, batch_idx):
        pass

    def on_validation_epoch_end(self):
        self.log("val_score", float(self.current_epoch + 1))  # reaches 2 at the second epoch

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class MixinNet(EATMixin, Net):
    def __init__(self) -> None:
        super().__init__()
        self.configure_eat(lam=1.0)

    def training_step(self, batch, batch_idx):
        return self.eat_loss(super().training_step(batch, batch_idx))


class BackwardLosses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_before_backward(self, trainer, pl_module, loss):
        self.losses.append(float(loss.detach()))


def _trainer(tmp_path, callbacks, epochs):
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=L.loggers.CSVLogger(tmp_path, name="run"),
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=2,
    )


def test_energy_callback_logs_epochs_steps_target_and_eat(tmp_path):
    sensor = ScriptedPowerSensor([WATTS], device="cpu:package-0", component="cpu")
    energy = EnergyCallback(
        target_metric="val_score",
        target=2,
        log_steps=True,
        carbon=lambda energy_j, duration_s: {"co2e_kg": energy_j / 3.6e6 * 0.4},
        sensors=[sensor],
        attribution="machine",
        sample_period_s=0.02,
    )
    eat, seen = EATCallback(lam=1.0), BackwardLosses()
    model = Net()
    trainer = _trainer(tmp_path, [energy, eat, seen], epochs=3)
    trainer.fit(model, _data(), _data(32))

    summary = json.loads((tmp_path / "run" / "version_0" / "energy_summary.json").read_text())
    assert summary == json.loads(json.dumps(energy.summary))
    assert summary["status"] == "completed" and summary["framework"] == "lightning"
    # A constant 100 W sensor: energy is exactly power x measured time, and the phases add up to it.
    assert summary["energy_j"] == pytest.approx(WATTS * summary["duration_s"], rel=1e-9)
    assert sum(summary["energy_by_phase_j"].values()) == pytest.approx(summary["energy_j"], rel=1e-12)
    assert summary["energy_by_phase_j"]["train"] > 0 and summary["energy_by_phase_j"]["eval"] > 0
    epochs = summary["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert epochs[-1]["energy_j"] <= summary["energy_j"]
    target = summary["target"]
    assert target["reached"] and target["epochs_to_target"] == 2 and target["value"] == 2.0
    assert epochs[0]["energy_j"] < target["energy_to_target_j"] <= epochs[1]["energy_j"]
    assert summary["carbon"]["co2e_kg"] == pytest.approx(summary["energy_j"] / 3.6e6 * 0.4)

    with open(tmp_path / "run" / "version_0" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    epoch_j = [float(r["energy/epoch_j"]) for r in rows if r.get("energy/epoch_j")]
    assert epoch_j == pytest.approx([e["epoch_energy_j"] for e in epochs])
    to_target = [float(r["energy/to_target_j"]) for r in rows if r.get("energy/to_target_j")]
    assert to_target == pytest.approx([target["energy_to_target_j"]] * 2)  # logged from epoch 2 on
    steps = [(int(r["step"]), float(r["energy/step_j"])) for r in rows if r.get("energy/step_j")]
    assert [s for s, _ in steps] == list(range(12))  # 4 batches x 3 epochs, each at its own step
    assert all(j > 0 for _, j in steps) and sum(j for _, j in steps) < summary["energy_by_phase_j"]["train"]
    co2 = [float(r["energy/total_co2e_kg"]) for r in rows if r.get("energy/total_co2e_kg")]
    assert co2 == pytest.approx([e["energy_j"] / 3.6e6 * 0.4 for e in epochs])
    assert any(r.get("eat/density_step") for r in rows)

    # EAT: the loss Lightning backpropagated is the module's loss plus lambda x E_hat, with E_hat in (0, 1].
    assert len(seen.losses) == len(model.raw_losses) == 12
    extra = [b - r for b, r in zip(seen.losses, model.raw_losses, strict=True)]
    assert all(0 < e <= 1.0 + 1e-6 for e in extra)
    assert "training_step" not in vars(model) and not eat.penalty.attached  # restored after fit


def test_eat_mixin_adds_the_penalty_and_detaches(tmp_path):
    model, seen = MixinNet(), BackwardLosses()
    _trainer(tmp_path, [seen], epochs=1).fit(model, _data(32))
    extra = [b - r for b, r in zip(seen.losses, model.raw_losses, strict=True)]
    assert len(extra) == 2 and all(0 < e <= 1.0 + 1e-6 for e in extra)
    assert math.isfinite(float(model.eat_penalty.last_density)) and not model.eat_penalty.attached


class Broken(Net):
    def training_step(self, batch, batch_idx):
        if batch_idx == 2:
            raise RuntimeError("boom")
        return super().training_step(batch, batch_idx)


def test_a_failing_fit_still_writes_what_it_measured(tmp_path):
    energy = EnergyCallback(
        sensors=[ScriptedPowerSensor([WATTS])], sample_period_s=0.02, carbon=False, attribution="machine"
    )
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(tmp_path, [energy], epochs=1).fit(Broken(), _data())
    summary = json.loads((tmp_path / "run" / "version_0" / "energy_summary.json").read_text())
    assert summary["status"] == "failed" and summary["energy_j"] > 0 and summary["carbon"] is None
    assert not energy.tracker.started  # the meter was stopped


def test_resumed_fit_continues_the_totals(tmp_path):
    def fit(epochs, ckpt_path=None):
        energy = EnergyCallback(
        sensors=[ScriptedPowerSensor([WATTS])], sample_period_s=0.02, carbon=False, attribution="machine"
    )
        saver = L.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
        trainer = L.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            callbacks=[energy, saver],
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
        )
        trainer.fit(Net(), _data(32), ckpt_path=ckpt_path)
        return energy.summary

    first = fit(1)
    resumed = fit(2, ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert [e["epoch"] for e in resumed["epochs"]] == [1, 2]
    assert resumed["epochs"][0] == first["epochs"][0]  # carried over from the checkpoint, not measured again
    assert resumed["energy_j"] > first["epochs"][0]["energy_j"] + resumed["epochs"][1]["epoch_energy_j"] - 1e-9


def test_energy_callback_sends_each_epoch_to_a_tracker(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sensor = ScriptedPowerSensor([WATTS], device="cpu:package-0", component="cpu")
    energy = EnergyCallback(target_metric="val_score", target=2, sensors=[sensor], sample_period_s=0.02,
                            log=[f"tensorboard:{tmp_path / 'tb'}"])  # fmt: skip
    _trainer(tmp_path, [energy], epochs=2).fit(Net(), _data(), _data(32))
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    totals = [(e.step, e.value) for e in acc.Scalars("energy/total_j")]
    assert totals == [(f["epoch"], pytest.approx(f["energy_j"])) for f in energy.summary["epochs"]]
    assert [e.value for e in acc.Scalars("val_score")] == [1.0, 2.0]
    assert acc.Scalars("energy/to_target_j")[-1].value == pytest.approx(energy.summary["target"]["energy_to_target_j"])
    assert (tmp_path / "tb" / "artifacts" / "energy_summary.json").exists()
