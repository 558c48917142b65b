"""``measure --serve`` scraped by a real Prometheus, and ``measure --log mlflow`` read back from a real server."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import pytest

from powertrain.cli import main

BUSY = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass"


def test_prometheus_scrapes_measure_serve_each_second_and_the_last_scrape_is_the_result(tmp_path, capsys):
    pytest.importorskip("prometheus_client")
    from tests.support.prometheus_server import PrometheusServer, free_port

    port = free_port()
    server = PrometheusServer([f"127.0.0.1:{port}"], interval_s=1.0).start()
    out = tmp_path / "m.json"
    try:
        deadline = time.monotonic() + 30
        while not server.query('up{job="powertrain"}') and time.monotonic() < deadline:
            threading.Event().wait(0.1)  # Prometheus's scrape loop runs (the target is still down)
        code = main(["measure", "--serve", str(port), "--out", str(out), "--", sys.executable, "-c", BUSY.format(s=3)])
        assert code == 0
        deadline = time.monotonic() + 30
        while True:  # wait until Prometheus has stored the scrape of the final figures
            done = server.query('last_over_time(powertrain_run_running{run="python"}[1m])')
            if (done and float(done[0]["value"][1]) == 0.0) or time.monotonic() > deadline:
                break
            threading.Event().wait(0.1)
        last = server.query('last_over_time(powertrain_run_energy_joules_total{run="python"}[1m])')
        resets = server.query('resets(powertrain_run_energy_joules_total{run="python"}[1m])')
        count = server.query('count_over_time(powertrain_run_energy_joules_total{run="python"}[1m])')
    finally:
        server.stop()
    assert f"serving Prometheus metrics on http://127.0.0.1:{port}/metrics" in capsys.readouterr().err
    result = json.loads(out.read_text())["measurement"]
    assert float(count[0]["value"][1]) >= 2 and float(resets[0]["value"][1]) == 0
    assert float(last[0]["value"][1]) == pytest.approx(result["energy_j"], rel=0.01)


def test_measure_log_mlflow_records_the_result_as_a_run(mlflow_env, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    out = tmp_path / "m.json"
    assert main(["measure", "--log", "mlflow", "--out", str(out), "--", sys.executable, "-c", BUSY.format(s=0.3)]) == 0
    client = mlflow.MlflowClient(tracking_uri=mlflow_env)
    experiment = client.get_experiment_by_name(os.environ["MLFLOW_EXPERIMENT_NAME"]).experiment_id
    (run,) = client.search_runs([experiment])
    result = json.loads(out.read_text())
    assert run.data.metrics["energy/total_j"] == pytest.approx(result["measurement"]["energy_j"], rel=1e-12)
    assert run.data.metrics["exit_code"] == 0 and run.info.status == "FINISHED"
    assert run.data.params["command"].startswith(sys.executable)
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["m.json"]
