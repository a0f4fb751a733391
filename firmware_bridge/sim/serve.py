"""Run a simulated firmware in the foreground until interrupted (for command-line entry points).

    firmware = SimFirmware.open_pty(model, config=FirmwareConfig(baud=115200))
    serve(firmware)        # prints the pty path for pyserial, runs until Ctrl-C
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from firmware_bridge.sim.engine import SimFirmware


def serve(firmware: SimFirmware, stop: threading.Event | None = None,
          announce: Callable[[str], None] = print, report_period_s: float = 10.0) -> None:
    """Start ``firmware``, announce its port, run until ``stop`` is set or Ctrl-C, then close.

    Every ``report_period_s`` it announces the firmware counters.
    """
    stop = stop or threading.Event()
    firmware.start()
    announce(f"simulated firmware {firmware.model.name!r} on {firmware.port_path or 'its port'}")
    try:
        while not stop.wait(report_period_s):
            announce(f"{firmware.stats} bad frames {firmware.parser.stats.bad_total}")
    except KeyboardInterrupt:
        announce("interrupted")
    finally:
        firmware.close()
