"""The client's Slurm work: submitting allocations, syncing their state with squeue, planning
schedulers for spec files, reading sacct and Slurm's log files.

Shared by the ``torc`` commands and the job runner (which submits the allocations its
workflow's actions ask for); the Slurm commands themselves are in ``app.shared.slurm``.
"""
