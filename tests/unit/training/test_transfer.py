"""init_from, fine-tuning modes, a new head, bad weights; the digit-recognizer CNN; multitask training."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
import torch.nn.functional as F

from powertrain.cli import main
from powertrain.errors import ConfigError
from powertrain.models import create_model, model_blocks
from powertrain.training import RunDir, train
from powertrain.training.objective import Objective


def state_of(result):
    return {k: v.clone() for k, v in result.model.state_dict().items()}


@pytest.fixture
def source_run(small_config, tmp_path):
    """A finished 1-epoch run: the pretrained weights (mlp 64-32 on 4 synthetic classes)."""
    return train(small_config(epochs=1, out=str(tmp_path / "src"), model_options={"hidden_sizes": [64, 32]}))


def test_head_only_keeps_the_body_and_gives_a_new_head_for_other_classes(small_config, source_run, tmp_path):
    src = state_of(source_run)
    config = small_config(
        epochs=1, out=str(tmp_path / "probe"), model_options={"hidden_sizes": [64, 32]}, estimate_batch_size=0,
        init_from=str(source_run.run_dir), finetune="head",
        dataset_options={"num_classes": 3, "train_size": 96, "test_size": 48},
    )  # fmt: skip
    probe = train(config)
    got = probe.model.state_dict()
    for key in ("net.1.weight", "net.1.bias", "net.3.weight", "net.3.bias"):
        assert torch.equal(got[key], src[key]), key  # loaded and frozen
    assert got["net.5.weight"].shape == (3, 32) and src["net.5.weight"].shape == (4, 32)  # a new head
    assert probe.history[-1].train_loss < 1.2  # and it learned something


def test_last_blocks_from_a_checkpoint_file_trains_only_the_top(small_config, source_run, tmp_path):
    src = state_of(source_run)
    config = small_config(
        epochs=1, out=str(tmp_path / "ft"), model_options={"hidden_sizes": [64, 32]}, estimate_batch_size=0,
        init_from=str(source_run.run_dir / "checkpoint.pt"), finetune="last_blocks", finetune_blocks=1,
    )  # fmt: skip
    got = train(config).model.state_dict()
    assert torch.equal(got["net.1.weight"], src["net.1.weight"])
    assert not torch.equal(got["net.3.weight"], src["net.3.weight"])
    assert not torch.equal(got["net.5.weight"], src["net.5.weight"])
    with pytest.raises(ConfigError, match="only 2 blocks below its head"):
        train(config.replace(out=str(tmp_path / "ft3"), finetune_blocks=3))


def test_full_finetune_from_a_plain_state_dict_starts_from_it(small_config, source_run, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(state_of(source_run), path)
    config = small_config(
        epochs=1, lr=1e-9, momentum=0.0, nesterov=False, weight_decay=0.0, estimate_batch_size=0,
        out=str(tmp_path / "full"), model_options={"hidden_sizes": [64, 32]}, init_from=str(path),
    )  # fmt: skip
    tuned = train(config)
    # a vanishing learning rate leaves the loaded weights, so accuracy equals the source run's
    assert tuned.history[0].val_accuracy == source_run.history[0].val_accuracy


def test_bad_init_from_is_one_config_error_before_anything_is_written(small_config, source_run, tmp_path):
    def attempt(init_from, **changes):
        out = tmp_path / "bad"
        with pytest.raises(ConfigError) as err:
            train(small_config(out=str(out), init_from=str(init_from), **changes))
        return str(err.value)

    assert "no such weights file" in attempt(tmp_path / "nothing.pt")
    assert not (tmp_path / "bad").exists()
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    assert "holds no model.pt" in attempt(unfinished)
    torch.save(argparse.Namespace(weights=torch.zeros(2)), tmp_path / "pickled.pt")
    assert "weights_only=True" in attempt(tmp_path / "pickled.pt")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    assert "holds no state dict" in attempt(tmp_path / "list.pt")
    message = attempt(source_run.run_dir)  # mlp 64-32 weights into the default mlp 512-256
    assert "does not fit" in message and "net.1.weight is (64, 64) there but (512, 64) here" in message
    assert "missing" in attempt(source_run.run_dir, model="lenet5", image_size=16)
    assert "is not installed" in attempt("pkg:no_such_package_xyz/w.pt")


def test_cli_reports_missing_weights_in_one_line(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(
        f"dataset: synthetic\nmodel: mlp\nepochs: 1\ndevice: cpu\nimage_size: 8\ninit_from: {tmp_path / 'missing.pt'}\n"
    )
    assert main(["train", "-c", str(config), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "init_from" in err[0] and "no such weights file" in err[0]


def test_digit_cnn_matches_the_published_digit_recognizer_network():
    from importlib.resources import files

    import digit_recognizer.model as recognizer  # a dev dependency: the published network is the reference

    from powertrain.training.transfer import load_init_state

    state = load_init_state("pkg:digit_recognizer/models/handwriting_model.pth")
    assert str(files("digit_recognizer").joinpath("models/handwriting_model.pth")).endswith(".pth")
    ours = create_model("digit-cnn", num_classes=10, in_channels=1, image_size=28).eval()
    ours.load_state_dict(state)  # strict: every name and shape matches
    theirs = recognizer.CNN().eval()
    theirs.load_state_dict(state)
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
    assert [b[0] for b in model_blocks(ours)][-1] == "fc_layers.2"


def test_objective_scores_each_sample_against_its_own_head_only():
    model = create_model("multitask", num_classes=5, in_channels=1, image_size=8, trunk="mlp", heads=[3, 2])
    objective = Objective(model, ["a", "b"], [3, 2])
    out = torch.tensor([[0.0, 5.0, 1.0, 9.0, 9.0], [9.0, 9.0, 9.0, 1.0, 2.0]])
    y = torch.tensor([2, 3])
    expected = (F.cross_entropy(out[:1, :3], y[:1]) + F.cross_entropy(out[1:, 3:], y[1:] - 3)) / 2
    torch.testing.assert_close(objective.loss(out, y), expected)
    assert int(objective.correct(out, y)) == 0  # task a picks class 1, task b picks class 4
    with pytest.raises(ConfigError, match="model: multitask"):
        Objective(create_model("mlp", num_classes=5, in_channels=1, image_size=8), ["a", "b"], [3, 2])


def test_multitask_run_reports_each_task_and_resumes(small_config, tmp_path):
    def task(name, classes):
        return {"dataset": "synthetic", "name": name, "num_classes": classes, "train_size": 192, "test_size": 96}

    config = small_config(
        dataset="multitask", model="multitask", model_options={"trunk": "mlp", "trunk_options": {"hidden_sizes": [32]}},
        dataset_options={"tasks": [task("a", 3), task("b", 2)]}, target_accuracy=0.3, eat_lambda=0.01,
        estimate_batch_size=64, estimate_max_batches=1, epochs=1,
    )  # fmt: skip
    first = train(config)
    result = train(config.replace(epochs=2), resume=first.run_dir)
    last = result.history[-1]
    assert set(last.tasks) == {"a", "b"} and last.val_accuracy == min(t["val_accuracy"] for t in last.tasks.values())
    assert result.history[0].tasks == first.history[0].tasks  # carried through the checkpoint
    summary = json.loads(RunDir(result.run_dir).summary_path.read_text())
    assert summary["tasks"]["b"]["final_accuracy"] == last.tasks["b"]["val_accuracy"]
    # each task's epochs-to-target is the (1-based) epoch of its first record on target, as the run's own is
    firsts = {n: next((r.epoch for r in result.history if r.tasks[n]["val_accuracy"] >= 0.3), None) for n in "ab"}
    assert any(firsts.values())  # the check below is not vacuous
    assert {n: summary["tasks"][n]["epochs_to_target"] for n in "ab"} == firsts
    if summary["reached_target"]:
        assert summary["epochs_to_target"] == max(firsts.values())
    assert 0 < summary["accelerator"]["mean_ratio"] <= 1  # the accelerator estimate runs on the multitask model
    assert not summary["accelerator"]["unmodelled_types"]
    rows = RunDir(result.run_dir).read_metrics()
    assert json.loads(rows[1]["tasks"])["a"]["val_accuracy"] == pytest.approx(last.tasks["a"]["val_accuracy"])
    # each task's accuracy, recomputed by hand from its own head's slice of the logits
    from powertrain.training.build import load_data

    bundle = load_data(config)
    _, test = bundle.loaders(batch_size=64, augment=False)
    model = result.model.eval()
    hits = {"a": [0, 0], "b": [0, 0]}
    with torch.no_grad():
        for x, y in test:
            out = model(x)
            for name, lo, hi in (("a", 0, 3), ("b", 3, 5)):
                own = (y >= lo) & (y < hi)
                hits[name][0] += int((out[own, lo:hi].argmax(1) + lo == y[own]).sum())
                hits[name][1] += int(own.sum())
    for name, (right, seen) in hits.items():
        assert last.tasks[name]["val_accuracy"] == pytest.approx(right / seen)
