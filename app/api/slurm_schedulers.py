"""Slurm schedulers: sbatch settings for allocations."""

from __future__ import annotations

from typing import Any

from app.api import wire
from app.api.common import Blueprint, Crud, equal_filters, operation_ids, register_crud
from app.api.schemas import ListSlurmSchedulersArgs, SlurmSchedulerModel
from app.models.records import SLURM_SCHEDULERS
from app.models.tables import SlurmScheduler

blp = Blueprint("slurm_schedulers", __name__, description="Slurm allocation settings")

FILTERS = ("name", "account", "gres", "mem", "nodes", "partition", "qos", "tmp", "walltime")


def _filters(args: dict[str, Any]) -> list[Any]:
    return equal_filters(SlurmScheduler, args, FILTERS)


register_crud(
    blp,
    Crud(
        SLURM_SCHEDULERS,
        "/slurm_schedulers",
        operation_ids("slurm_scheduler", "slurm_schedulers"),
        SlurmSchedulerModel,
        ListSlurmSchedulersArgs,
        _filters,
        wire.plain,
    ),
)
