"""Local schedulers: resource settings for runners on ordinary machines."""

from __future__ import annotations

from typing import Any

from app.api import wire
from app.api.common import Blueprint, Crud, equal_filters, operation_ids, register_crud
from app.api.schemas import ListLocalSchedulersArgs, LocalSchedulerModel
from app.models.records import LOCAL_SCHEDULERS
from app.models.tables import LocalScheduler

blp = Blueprint("local_schedulers", __name__, description="Local runner settings")


def _filters(args: dict[str, Any]) -> list[Any]:
    return equal_filters(LocalScheduler, args, ("memory", "num_cpus"))


register_crud(
    blp,
    Crud(
        LOCAL_SCHEDULERS,
        "/local_schedulers",
        operation_ids("local_scheduler", "local_schedulers"),
        LocalSchedulerModel,
        ListLocalSchedulersArgs,
        _filters,
        wire.plain,
    ),
)
