"""An ingest server in its own process, for kill -9 tests.

Usage: ``python ingest_server.py <replay dir> <port>``; prints ``ready`` once bound, runs until
killed (or SIGTERM: clean stop).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from offboard.ingest import Ingest, IngestConfig
from tests.onboard.link_fakes import open_replay
from tests.onboard.onnx_fakes import SPEC


def main() -> None:
    directory, port = Path(sys.argv[1]), int(sys.argv[2])
    replay = open_replay(directory)
    config = IngestConfig(bind=f"tcp://127.0.0.1:{port}", heartbeat_interval=0.1,
                          peer_timeout=1.0, flush_interval=0.05)
    server = Ingest(config, SPEC, replay).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    server.stop()
    replay.close()


if __name__ == "__main__":
    main()
