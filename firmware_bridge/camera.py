"""The camera link: a USB-camera stand-in that is not on the MCU's serial line.

On a real robot the camera is its own device; here the simulated firmware program renders the
task camera and publishes each frame on a local ZeroMQ endpoint (``ipc:///tmp/robot-camera`` or
``tcp://127.0.0.1:5600``). The robot computer's :class:`CameraReader` keeps only the newest frame
(``CONFLATE``) and hands it out with its age.

Wire format: one ZeroMQ message per frame, a msgpack map ``{"version": 1, "seq": int,
"timestamp_us": int (firmware time of the physics state shown), "height": H, "width": W,
"image": bytes (H*W*3 uint8, RGB, row-major)}``. Nothing else crosses; no pickle.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import msgpack
import numpy as np
import zmq

from firmware_bridge.errors import BridgeError

LOGGER = logging.getLogger(__name__)
CAMERA_VERSION = 1


@dataclass(frozen=True)
class CameraFrame:
    """One received frame.

    Attributes:
        image: RGB image ``(H, W, 3)`` uint8.
        seq: publisher's frame counter.
        timestamp_us: firmware time of the physics state the frame shows.
        received_at: reader's monotonic receive time in seconds.
    """

    image: np.ndarray
    seq: int
    timestamp_us: int
    received_at: float

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the frame was received (``now`` from ``time.monotonic``)."""
        return (time.monotonic() if now is None else now) - self.received_at


def encode_frame(image: np.ndarray, seq: int, timestamp_us: int) -> bytes:
    """The wire bytes of one ``(H, W, 3)`` uint8 frame."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise BridgeError(f"camera frames are (H, W, 3) uint8, got shape {image.shape}")
    return msgpack.packb({"version": CAMERA_VERSION, "seq": int(seq),
                          "timestamp_us": int(timestamp_us), "height": image.shape[0],
                          "width": image.shape[1], "image": image.tobytes()})


def decode_frame(data: bytes, received_at: float) -> CameraFrame:
    """Parse wire bytes; raises :class:`BridgeError` naming what is wrong."""
    try:
        values = msgpack.unpackb(data, raw=False)
        height, width, pixels = int(values["height"]), int(values["width"]), values["image"]
        version, seq, stamp = values["version"], int(values["seq"]), int(values["timestamp_us"])
    except Exception as error:  # msgpack raises many types on garbage
        raise BridgeError(f"bad camera message of {len(data)} bytes: {error}") from error
    if version != CAMERA_VERSION or not isinstance(pixels, bytes) or (
            len(pixels) != height * width * 3 or height <= 0 or width <= 0):
        raise BridgeError(f"bad camera frame: version {version}, {height}x{width}, "
                          f"{len(pixels) if isinstance(pixels, bytes) else type(pixels)} bytes")
    image = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, 3)
    return CameraFrame(image, seq, stamp, received_at)


class CameraPublisher:
    """Publishes frames on ``endpoint`` (binds). Never blocks: a frame the socket refuses is
    dropped and counted in :attr:`dropped` (a PUB socket also drops silently for a subscriber
    whose queue is full; the reader drains it at once, keeping only the newest).

    Args:
        endpoint: ZeroMQ endpoint to bind, e.g. ``ipc:///tmp/robot-camera``.
    """

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._context = zmq.Context.instance()
        self._socket = self._context.socket(zmq.PUB)
        self._socket.setsockopt(zmq.SNDHWM, 16)  # a full PUB pipe drops the *newest* frames
        self._socket.setsockopt(zmq.LINGER, 0)
        try:
            self._socket.bind(endpoint)
        except zmq.ZMQError as error:
            self._socket.close()
            raise BridgeError(f"cannot bind the camera endpoint {endpoint!r}: {error}") from error
        self.seq = 0
        self.dropped = 0

    def publish(self, image: np.ndarray, timestamp_us: int) -> None:
        """Send one ``(H, W, 3)`` uint8 frame."""
        self.seq += 1
        try:
            self._socket.send(encode_frame(image, self.seq, timestamp_us), zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1

    def close(self) -> None:
        """Close the socket."""
        self._socket.close(linger=0)


class CameraReader:
    """Keeps the newest frame published on ``endpoint``; one thread owns the socket.

    Args:
        endpoint: the publisher's endpoint (connects).
        poll_s: longest the reader thread blocks in one poll.
    """

    def __init__(self, endpoint: str, poll_s: float = 0.05) -> None:
        self.endpoint = endpoint
        self.frames = 0
        self.bad = 0
        self._poll_ms = max(1, round(poll_s * 1000))
        self._latest: CameraFrame | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-reader", daemon=True)
        self._thread.start()
        self._ready.wait(1.0)

    def _run(self) -> None:
        socket = zmq.Context.instance().socket(zmq.SUB)
        socket.setsockopt(zmq.CONFLATE, 1)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        socket.connect(self.endpoint)
        self._ready.set()
        try:
            while not self._stop.is_set():
                if not socket.poll(self._poll_ms):
                    continue
                data = socket.recv()
                try:
                    self._latest = decode_frame(data, time.monotonic())
                    self.frames += 1
                except BridgeError as error:
                    self.bad += 1
                    LOGGER.warning("camera: %s", error)
        finally:
            socket.close(linger=0)

    def latest(self) -> CameraFrame | None:
        """The newest frame (None before the first); see :meth:`CameraFrame.age_s`."""
        return self._latest

    def wait_for_frame(self, timeout: float, from_us: int = -1) -> CameraFrame | None:
        """The newest frame, waiting up to ``timeout`` seconds for one whose ``timestamp_us`` is
        at least ``from_us`` (default: any frame); None when none came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self._latest
            if frame is not None and frame.timestamp_us >= from_us:
                return frame
            time.sleep(0.005)
        frame = self._latest
        return frame if frame is not None and frame.timestamp_us >= from_us else None

    def close(self) -> None:
        """Stop the reader thread (closes its socket)."""
        self._stop.set()
        self._thread.join(timeout=1.0)
