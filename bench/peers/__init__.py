"""Peer systems, each run in its own interpreter: ``python -m bench.peers.<name> FILE``.

FILE is a JSON workload ({"jobs": [[name, [deps...]], ...], "slots": 2}); the module prints
the elapsed seconds of running every job (each job runs the program ``true``).
"""
