"""What every benchmark says about the machine it ran on, and real-time scheduling.

Imported by the benchmark scripts (run as ``python bench/<name>.py``, so this folder is on
``sys.path``).
"""

from __future__ import annotations

import os


def load_average() -> str:
    """1-minute load average and core count, to say what else was running."""
    return f"loadavg1={os.getloadavg()[0]:.2f} cpus={os.cpu_count()}"


def use_realtime() -> bool:
    """Switch this process to SCHED_FIFO priority 10; False when not permitted."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (PermissionError, AttributeError) as error:
        print(f"warning: SCHED_FIFO refused ({error}); normal scheduling")
        return False
    return True
