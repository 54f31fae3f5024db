"""``torc remote``: run a workflow's jobs on SSH hosts, one detached ``torc run`` per host."""
