"""Peer systems, each run in its own interpreter: ``python -m bench.peers.<name> FILE``.

FILE is a JSON workload ({"jobs": [[name, [deps...]], ...], "slots": 2}); the module prints
the elapsed seconds of running every job (each job runs the program ``true``).

Every peer gives each task its own new stdout and stderr files, ``job_stdio/<name>.o`` and
``.e`` in the working directory, as torc gives each job, and keeps its own scratch files
there too: the run directory (tmpfs or disk) then costs every system the same.
"""
