"""Resource requirements: CPUs, memory, GPUs, nodes and runtime a job needs."""

from __future__ import annotations

from typing import Any

from app.api import wire
from app.api.common import Blueprint, Crud, equal_filters, operation_ids, register_crud
from app.api.schemas import ListResourceRequirementsArgs, ResourceRequirementsModel
from app.models import records
from app.models.records import RESOURCE_REQUIREMENTS
from app.models.tables import Job, ResourceRequirements

blp = Blueprint(
    "resource_requirements", __name__, description="What a job needs to run: CPUs, memory, GPUs"
)


def _filters(args: dict[str, Any]) -> list[Any]:
    names = ("name", "memory", "num_cpus", "num_gpus", "num_nodes", "runtime")
    conditions = equal_filters(ResourceRequirements, args, names)
    if args.get("job_id") is not None:
        of_job = Job.select(Job.resource_requirements_id).where(Job.id == args["job_id"])
        conditions.append(ResourceRequirements.id.in_(of_job))
    return conditions


register_crud(
    blp,
    Crud(
        RESOURCE_REQUIREMENTS,
        "/resource_requirements",
        operation_ids(
            "resource_requirements",
            "resource_requirements",
            delete_all="delete_resource_requirements",
            delete="delete_resource_requirement",
        ),
        ResourceRequirementsModel,
        ListResourceRequirementsArgs,
        _filters,
        wire.resource_requirements,
    ),
    update=records.update_resource_requirements,
)
