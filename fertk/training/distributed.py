"""Process-group plumbing: single process, or DDP under ``torchrun`` (env:// rendezvous).

``setup()`` reads ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (set by ``torchrun``); with
``WORLD_SIZE > 1`` it initialises the default process group (NCCL on CUDA, gloo on CPU).
Only rank 0 writes files; every rank computes the same validation metrics, so model
selection decisions agree without communication.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def resolve_device(pref: str = "auto", local_rank: int = 0, label: str = "run.device") -> torch.device:
    """The torch device of ``pref`` (:func:`fertk.option_types.parse_device`: ``auto``, ``cpu``,
    ``cuda``, ``cuda:N``; anything else is one error naming ``label``)."""
    from fertk.errors import FertkError
    from fertk.option_types import parse_device

    if pref in ("", None):
        pref = "auto"
    pref = parse_device(str(pref) if isinstance(pref, torch.device) else pref, label)
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
        return torch.device("cpu")
    dev = torch.device(pref)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FertkError(f"{label}={pref}: CUDA is not available on this machine")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return dev


def setup(device_pref: str = "auto") -> DistInfo:
    """Initialise DDP when launched by ``torchrun`` with several processes."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_pref, local_rank)
    here = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, init_method="env://", world_size=world, rank=rank)
        here = True
    elif dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    return DistInfo(rank=rank, world=world, local_rank=local_rank, device=device, initialized_here=here)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        import torch.distributed as dist

        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.initialized_here:
        import torch.distributed as dist

        dist.destroy_process_group()


def broadcast_flag(info: DistInfo, flag: bool) -> bool:
    """Rank 0's boolean, on every rank (e.g. 'stop now')."""
    if not info.distributed:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], dtype=torch.int64,
                     device=info.device if info.device.type == "cuda" else "cpu")
    dist.broadcast(t, src=0)
    return bool(t.item())
