"""The ops-mode accelerator energy ratio of every run of an EAT study (the GPU evidence's inference step).

    python scripts/gpu_evidence_ops.py STUDY_RESULTS_JSON OUT_JSON [--batch-size N] [--max-batches N] [--device D]

The study reports EAT's reference ratio; this adds the ratio of the ``ops`` mode (every executed ATen operator
counted, docs/eat.md) for the same trained models, through ``powertrain.training.estimate_run``, so the summary sets
the modelled ratios of both modes beside the measured inference energy. OUT_JSON is rewritten after each run, so a
stop at the step's limit keeps the runs already estimated; a run that fails is recorded with its error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_evidence_report import write_atomic  # noqa: E402


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None  # one batch has no standard deviation: NaN, not JSON


def main(argv: list[str] | None = None) -> int:
    """Estimate each completed run of the study in ops mode; 0 when every run was estimated, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="the study's results.json")
    parser.add_argument("out", type=Path)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--max-batches", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    from powertrain.training import estimate_run

    try:
        runs = json.loads(args.results.read_text()).get("runs") or []
    except (OSError, ValueError) as exc:
        print(f"gpu-evidence-ops: cannot read {args.results}: {exc}", file=sys.stderr)
        return 1
    out: dict[str, Any] = {"mode": "ops", "batch_size": args.batch_size, "max_batches": args.max_batches, "runs": []}
    failed = 0
    for run in runs:
        if run.get("status") != "completed" or not run.get("run_dir"):
            continue
        setting = (run.get("setting") or {}).get("name")
        entry: dict[str, Any] = {"model": run.get("model"), "setting": setting, "run_dir": run["run_dir"]}
        start = time.monotonic()
        try:
            est = estimate_run(run["run_dir"], batch_size=args.batch_size, mode="ops", device=args.device,
                               max_batches=args.max_batches, per_sample=False)  # fmt: skip
            entry.update(mean_ratio=_finite(est.mean_ratio), std_ratio=_finite(est.std_ratio),
                         pooled_ratio=_finite(est.pooled_ratio), batch_size=est.batch_size,
                         num_samples=est.num_samples, unmodelled_types=list(est.unmodelled_types))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one run's failure is recorded, the next run is estimated
            entry["error"] = f"{type(exc).__name__}: {exc}"
            failed += 1
        entry["seconds"] = round(time.monotonic() - start, 2)
        out["runs"].append(entry)
        write_atomic(args.out, json.dumps(out, indent=1) + "\n")
        print(f"gpu-evidence-ops: {entry['model']} {setting}: {entry.get('mean_ratio', entry.get('error'))}")
    write_atomic(args.out, json.dumps(out, indent=1) + "\n")
    return 1 if failed or not out["runs"] else 0


if __name__ == "__main__":
    sys.exit(main())
