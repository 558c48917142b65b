"""Real tracker back ends, started once per test session: an MLflow server, W&B in offline mode."""

from __future__ import annotations

import pytest


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
    return home
