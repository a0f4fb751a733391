"""The trainer (GPU workstation): ingest of robot streams into a persistent replay, the DreamerV3
learner, ONNX export of the acting step, signed policy delivery. Imports ``shared`` only.

Entry points: ``offboard.cli`` (``daydreamer-trainer serve|local``), ``offboard.demo``
(``daydreamer-demo``, the whole loop on one machine).
"""
