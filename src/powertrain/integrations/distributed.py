"""Count every device once when a job spans several processes (torchrun, Lightning DDP, ``accelerate``).

Each rank proposes the sensors it could read; every sensor gets a key made of its **host** (the kernel's boot id, so
containers sharing one machine are one host) and its **device identity** (a GPU's NVML UUID, a RAPL zone's label, the
CPU estimate's label). Ranks exchange their keys once, and each key is owned by the lowest rank that proposes it:
a node's CPU package, DRAM and CPU estimate are read by one rank per node, and a GPU visible to several ranks by
one of them. Figures are then summed across ranks, so each joule is counted exactly once.

Without an initialised ``torch.distributed`` process group (a single process) everything here is a no-op.

Example (one process: every sensor is kept)::

    >>> from powertrain.integrations.distributed import claim_sensors
    >>> from powertrain.meters.testing import ScriptedCounterSensor
    >>> gpu = ScriptedCounterSensor([0.0], device="gpu:0")
    >>> claim = claim_sensors([gpu], host_id="node-a")
    >>> [s.device for s in claim.owned], claim.labels[gpu.device]
    (['gpu:0'], 'gpu:0')
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powertrain.meters.base import Sensor

__all__ = ["Claim", "Ranks", "claim_sensors", "host_id", "job_pids", "ranks", "sensor_identity"]

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class Ranks:
    """Where this process sits in the job.

    Attributes:
        rank: Global rank (0 without a process group).
        world_size: Number of processes (1 without a process group).
        active: True when an initialised ``torch.distributed`` process group is used for exchanges.
    """

    rank: int = 0
    world_size: int = 1
    active: bool = False

    @property
    def is_zero(self) -> bool:
        """True on the rank that writes results."""
        return self.rank == 0


def ranks() -> Ranks:
    """This process's rank and the world size, from the initialised default process group if any."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch without distributed support
        return Ranks()
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), True)
    return Ranks()


def host_id() -> str:
    """An identity of this machine shared by every process on it: the kernel's boot id, else the host name.

    ``POWERTRAIN_HOST_ID`` overrides it (to simulate several nodes on one machine, or on systems where
    containers on one node do not share a kernel boot id).
    """
    override = os.environ.get("POWERTRAIN_HOST_ID")
    if override:
        return override
    try:
        return f"{socket.gethostname()}:{_BOOT_ID.read_text().strip()}"
    except OSError:
        return socket.gethostname()


def sensor_identity(sensor: Sensor) -> str:
    """What a sensor physically reads, the same in every process on the host.

    A sensor's ``device`` label is not enough: ``gpu:0`` is each rank's first *visible* GPU, a different card per
    rank when ``CUDA_VISIBLE_DEVICES`` differs. NVML sensors are identified by the GPU's UUID (else its NVML
    index, which ignores ``CUDA_VISIBLE_DEVICES``); any sensor may set an ``identity`` attribute (the scripted
    test sensors do); otherwise the device label is used (RAPL zones and the CPU estimate are per host).
    """
    explicit = getattr(sensor, "identity", None)
    if explicit:
        return str(explicit)
    handle, nv = getattr(sensor, "_handle", None), getattr(sensor, "_nv", None)
    if handle is not None and nv is not None:
        try:
            uuid = nv.nvmlDeviceGetUUID(handle)
            return f"gpu-uuid:{uuid.decode() if isinstance(uuid, bytes) else uuid}"
        except Exception:  # noqa: BLE001 - any NVML failure: fall back to the NVML index
            pass
    nvml_index = getattr(sensor, "nvml_index", None)
    if nvml_index is not None:
        return f"nvml:{nvml_index}"
    return sensor.device


@dataclass
class Claim:
    """The outcome of :func:`claim_sensors` on one rank.

    Attributes:
        owned: The sensors this rank reads.
        dropped: Sensors another rank reads (the caller closes them if it created them).
        labels: This rank's device label -> the label used in results (qualified by host name and, if two ranks
            share a label for different devices, by rank, when the job has several processes).
        owners: One row per distinct sensor of the job: ``host``, ``identity``, ``device`` (result label), ``rank``.
        ranks: The job's ranks.
    """

    owned: list[Sensor]
    dropped: list[Sensor]
    labels: dict[str, str]
    owners: list[dict[str, Any]] = field(default_factory=list)
    ranks: Ranks = field(default_factory=Ranks)


def claim_sensors(
    sensors: Sequence[Sensor], *, host_id: str | None = None, job: Ranks | None = None, split_host: bool = False
) -> Claim:
    """Keep the sensors this rank owns; a collective call (every rank calls it once, in the same order).

    With ``split_host`` (attribution by process tree or cgroup) every rank keeps the host sensors it proposes (CPU
    package, DRAM, CPU estimate): each measures its own share of the host, and the shares, under one label per
    host, add up to the job's. GPUs are claimed once per device either way.

    Args:
        sensors: The sensors this rank could read (null sensors are ignored).
        host_id: This machine's identity (default :func:`host_id`).
        job: The ranks (default :func:`ranks`).
        split_host: Every rank keeps its host sensors (its attributed share), instead of one rank per host.

    Returns:
        The :class:`Claim`: owned and dropped sensors, result labels, and the ownership table.
    """
    job = job or ranks()
    host = host_id or globals()["host_id"]()
    real = [s for s in sensors if not s.is_null]
    mine = [(host, sensor_identity(s), s.device) for s in real]
    everyone: list[list[tuple[str, str, str]]] = [mine]
    if job.active and job.world_size > 1:
        import torch.distributed as dist

        everyone = [[] for _ in range(job.world_size)]
        dist.all_gather_object(everyone, mine)
    owner: dict[tuple[str, str], int] = {}
    label_of: dict[tuple[str, str], str] = {}
    shared = {s.device for s in real if split_host and s.component != "gpu"}
    for rank, proposals in enumerate(everyone):
        for host_key, identity, _device in proposals:
            owner.setdefault((host_key, identity), rank)
    if job.world_size > 1:
        taken: dict[str, tuple[str, str]] = {}
        for rank, proposals in enumerate(everyone):
            for host_key, identity, device in proposals:
                key = (host_key, identity)
                if owner[key] != rank or key in label_of:
                    continue
                label = f"{host_key.split(':', 1)[0]}/{device}"
                if label in taken:
                    label = f"{label}@rank{rank}"
                taken[label] = key
                label_of[key] = label
    else:
        label_of = {(h, i): d for h, i, d in mine}
    owned = [s for s, (h, i, d) in zip(real, mine, strict=True) if owner[(h, i)] == job.rank or d in shared]
    dropped = [s for s in sensors if s not in owned]
    labels = {d: label_of[(h, i)] for h, i, d in mine if owner[(h, i)] == job.rank or d in shared}
    owners = [
        {"host": h.split(":", 1)[0], "identity": i, "device": label_of[(h, i)], "rank": r}
        for (h, i), r in owner.items()
    ]
    return Claim(owned, dropped, labels, owners, job)


def job_pids(job: Ranks, host: str | None = None) -> set[int]:
    """PIDs of the job's ranks on this host (collective under ``torch.distributed``; this process alone otherwise)."""
    me = (host or host_id(), os.getpid())
    if not (job.active and job.world_size > 1):
        return {me[1]}
    import torch.distributed as dist

    everyone: list[Any] = [None] * job.world_size
    dist.all_gather_object(everyone, me)
    return {pid for h, pid in everyone if h == me[0]}
