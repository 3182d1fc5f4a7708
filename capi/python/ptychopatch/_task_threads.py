"""Library threads for one dataset task (docs/python.md, "Threads").

A Dask worker runs as many tasks at once as it has threads, and several
workers may share a host; each task's library call then gets the
processors its worker may use divided by the tasks running at once on its
host, so that a cluster neither oversubscribes its cores nor leaves them
idle, whatever its shape. The division is made on the worker, when the
task runs: its processors are the worker's own (its affinity mask, e.g. a
SLURM allocation), not those of the machine that submitted the work.

Only the standard library; Dask is consulted only where it is already
imported (a task on a worker).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, Optional


def available_processors() -> int:
    """Processors this process may run on: its affinity mask where the
    system has one (a container's or a batch job's limit), else the count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_per_host(client: Any) -> Dict[str, int]:
    """Task threads of each host of `client`'s cluster: the sum of the
    `nthreads` of its workers (one request to the scheduler)."""
    hosts: Dict[str, int] = {}
    for worker in client.scheduler_info().get("workers", {}).values():
        host = worker.get("host")
        if host is not None:
            hosts[host] = hosts.get(host, 0) + int(worker.get("nthreads") or 1)
    return hosts


def _concurrent_tasks(hosts: Optional[Dict[str, int]]) -> int:
    """Tasks running at once on this host: 1 outside a Dask worker; on one,
    its host's task threads from `hosts` (`threads_per_host`), or its own
    threads where the host is not listed (a worker that joined later)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return 1
    try:
        worker = distributed.get_worker()
    except ValueError:  # not in a task on a worker
        return 1
    state = getattr(worker, "state", worker)  # distributed >= 2022.11 keeps it there
    own = max(1, int(getattr(state, "nthreads", 1) or 1))
    if hosts:
        host = distributed.comm.get_address_host(worker.address)
        return max(own, hosts.get(host, 0))
    return own


def task_threads(num_threads: Optional[int],
                 hosts: Optional[Dict[str, int]] = None) -> int:
    """`num_threads`, or for None the library threads one task gets:
    max(1, processors available // tasks running at once on this host).

    An integer is returned as given (0: every core, as in the library).
    `hosts` maps a host to its task threads (`threads_per_host`).
    """
    if num_threads is not None:
        return num_threads
    return max(1, available_processors() // _concurrent_tasks(hosts))
