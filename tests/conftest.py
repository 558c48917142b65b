"""Test-suite hooks, and the fixtures shared across folders.

Tests marked ``gpu`` need a CUDA GPU with NVML; they are skipped, with the reason, when either is missing
(they only run when selected, e.g. ``pytest -m gpu``).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import time

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Children get Ctrl-C as a user's shell gives it, however the suite was started.

    A shell without job control starts a background job (``make test &``, ``nohup``) with SIGINT ignored, and an
    ignored signal stays ignored across exec: a ``powertrain train`` child would then never see the SIGINT that
    tests/cli/test_interrupt.py sends it. A Python handler, unlike SIG_IGN, is reset to the default at exec.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@functools.cache
def _gpu_missing() -> str | None:
    """None when a CUDA GPU and NVML are usable, else why not."""
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except Exception as exc:  # any NVML failure means: no GPU tests here
        return f"NVML unavailable: {exc}"
    import torch

    if not torch.cuda.is_available():
        return "torch.cuda is not available"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    reason = _gpu_missing()
    if reason is not None:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=f"needs a CUDA GPU: {reason}"))


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@pytest.fixture(autouse=True)
def _restore_process_state():
    """Every test starts from the process state the one before it found, whatever the order of the tests.

    Code run in-process changes state that outlives a test: ``main()`` adds a stderr handler to the ``powertrain``
    logger (and typer an exception hook), the GPU-evidence runner installs SIGINT/SIGTERM handlers and puts its folder
    on ``sys.path``, studies set Optuna's verbosity, a test may chdir or set PyTorch's thread count. Put back after
    each test: signal handlers, environment, working folder, ``sys.path``, exception hook, the ``powertrain`` and
    ``optuna`` loggers, and the thread count.
    """
    handlers = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    environ, cwd, path, excepthook = dict(os.environ), os.getcwd(), list(sys.path), sys.excepthook
    loggers = [logging.getLogger(name) for name in ("powertrain", "optuna")]  # optuna's: its verbosity
    log_states = [(list(logger.handlers), logger.level, logger.propagate) for logger in loggers]
    threads = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    yield
    for sig, handler in handlers.items():
        if signal.getsignal(sig) is not handler and handler is not None:
            signal.signal(sig, handler)
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    if os.getcwd() != cwd:
        os.chdir(cwd)
    sys.path[:] = path
    sys.excepthook = excepthook
    for logger, (log_handlers, level, propagate) in zip(loggers, log_states, strict=True):
        logger.handlers[:], logger.level, logger.propagate = log_handlers, level, propagate
    if threads is not None and sys.modules["torch"].get_num_threads() != threads:
        sys.modules["torch"].set_num_threads(threads)


LONG_RUN = """
dataset: synthetic
model: mlp
epochs: 500
batch_size: 16
lr: 0.01
device: cpu
estimate_batch_size: 0
image_size: 16
channels: 1
dataset_options: {num_classes: 4, train_size: 2048, test_size: 64}
"""


@pytest.fixture
def long_run_config(tmp_path):
    """A YAML config of a CPU run of many short epochs (about 0.3 s each), to kill or interrupt part-way."""
    path = tmp_path / "long-run.yaml"
    path.write_text(LONG_RUN)
    return path


@pytest.fixture
def steady_cpu_estimate(monkeypatch):
    """Sensor discovery (a meter's or a tracker's own) finds one steady 20 W CPU estimate, scripted.

    For in-process runs that assert an energy figure without passing sensors (the CLI, shipped examples): their joules
    are then their duration x 20 W, labelled ``estimated`` like this machine's real estimate, which can read 0 J for
    a run shorter than its 10 ms CPU-time ticks. Their default attribution (``process``) is scripted too: the run
    keeps the one CPU busy alone, so it owns all of the 20 W whatever else this machine runs (``machine`` and an
    explicit scope are left as they are).
    """
    from powertrain.meters import attribution as scopes
    from powertrain.meters.testing import ScriptedAttribution, ScriptedPowerSensor

    def discover(**_options):
        return [ScriptedPowerSensor([20.0], device="cpu:estimate", component="cpu", source="estimated")]

    def attribution(value=None):
        if isinstance(value, scopes.Attribution) or (value or "process").strip() != "process":
            return scopes.make_attribution(value)
        return ScriptedAttribution(time.monotonic, run_cpus=1.0, others_cpus=0.0, logical_cpus=1)

    monkeypatch.setattr("powertrain.meters.meter.discover_sensors", discover)
    monkeypatch.setattr("powertrain.integrations.tracker.discover_sensors", discover)
    monkeypatch.setattr("powertrain.meters.meter.make_attribution", attribution)
    monkeypatch.setattr("powertrain.integrations.tracker.make_attribution", attribution)


@pytest.fixture(scope="session")
def postgres_url():
    """The SQLAlchemy URL of a real PostgreSQL server started for this test session (Debian's postgresql)."""
    from tests.support.postgres import PostgresServer

    server = PostgresServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def report_inputs(tmp_path_factory):
    """Two tiny runs, a sweep export and an EAT study around them (tests/support/report_inputs.py)."""
    from tests.support.report_inputs import make_report_inputs

    return make_report_inputs(tmp_path_factory.mktemp("report-inputs"))


@pytest.fixture(scope="session")
def full_report(report_inputs):
    """The report of that sweep, EAT study and run, built once per session."""
    from tests.support.report_inputs import make_full_report

    return make_full_report(report_inputs)

@pytest.fixture(scope="session")
def mlflow_server():
    """The URL of a real ``mlflow server`` (SQLite backend, free port) started for this test session."""
    pytest.importorskip("mlflow", reason="the trackers extra is not installed: run `make test`")
    from tests.support.mlflow_server import MlflowServer

    server = MlflowServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def mlflow_env(mlflow_server, monkeypatch):
    """MLFLOW_TRACKING_URI pointing at the session's server, in a fresh experiment per test."""
    import uuid

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", f"test-{uuid.uuid4().hex[:8]}")
    return mlflow_server


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch):
    """W&B in offline mode, its files under tmp_path/wandb-home, no network, no login."""
    pytest.importorskip("wandb", reason="the trackers extra is not installed: run `make test`")
    home = tmp_path / "wandb-home"
    home.mkdir()
    for name, value in {
        "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(home), "WANDB_CONFIG_DIR": str(home / "cfg"),
        "WANDB_CACHE_DIR": str(home / "cache"), "WANDB_DATA_DIR": str(home / "data"), "WANDB_DISABLE_CODE": "true",
        "WANDB_CONSOLE": "off",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    yield home
    import wandb

    wandb.teardown()  # W&B's process-wide settings and service belong to this test: the next one starts its own
