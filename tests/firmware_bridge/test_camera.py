"""The camera link: frame format, newest-frame reader with its age."""

from __future__ import annotations

import time
from pathlib import Path

import msgpack
import numpy as np
import pytest

from firmware_bridge.camera import CameraPublisher, CameraReader, decode_frame, encode_frame
from firmware_bridge.errors import BridgeError


def test_frame_round_trip_and_bad_frames() -> None:
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    frame = decode_frame(encode_frame(image, 7, 1234), received_at=10.0)
    np.testing.assert_array_equal(frame.image, image)
    assert (frame.seq, frame.timestamp_us, frame.age_s(now=10.5)) == (7, 1234, 0.5)
    with pytest.raises(BridgeError, match="bad camera message"):
        decode_frame(b"\xc1garbage", 0.0)
    short = msgpack.packb({"version": 1, "seq": 1, "timestamp_us": 0, "height": 4, "width": 5,
                           "image": bytes(59)})
    with pytest.raises(BridgeError, match="4x5, 59 bytes"):
        decode_frame(short, 0.0)
    with pytest.raises(BridgeError, match="shape"):
        encode_frame(np.zeros((4, 4), np.uint8), 1, 0)


def test_reader_keeps_the_newest_frame(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/camera"
    publisher = CameraPublisher(endpoint)
    reader = CameraReader(endpoint, poll_s=0.01)
    try:
        deadline = time.monotonic() + 5.0
        value = 0
        while reader.latest() is None and time.monotonic() < deadline:
            value += 1
            publisher.publish(np.full((8, 8, 3), value % 256, np.uint8), value)
            time.sleep(0.01)
        for _ in range(5):
            value += 1
            publisher.publish(np.full((8, 8, 3), value % 256, np.uint8), value)
            time.sleep(0.005)
        time.sleep(0.2)
        frame = reader.latest()
        assert frame is not None and frame.timestamp_us == value
        assert int(frame.image[0, 0, 0]) == value % 256
        assert 0.0 <= frame.age_s() < 1.0
        assert reader.bad == 0 and reader.frames >= 1
        assert reader.wait_for_frame(0.05, from_us=value + 1) is None
        publisher.publish(np.zeros((8, 8, 3), np.uint8), value + 5)
        assert reader.wait_for_frame(2.0, from_us=value + 1).timestamp_us == value + 5
    finally:
        reader.close()
        publisher.close()
