"""The on-robot runtime (Raspberry Pi, Jetson): a fixed-rate control loop running the ONNX policy
with onnxruntime under a safety layer, streaming transitions to the trainer and hot-swapping the
verified policies it gets back. Never imports torch. Imports ``shared`` and ``firmware_bridge``.

Entry point: ``onboard.cli`` (``daydreamer-onboard``).
"""
