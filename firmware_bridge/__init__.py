"""The link to the robot's microcontroller: a declarative message table, COBS/CRC framing, an
incremental parser, pyserial transports and the host driver; ``firmware_bridge.sim`` is a
simulated firmware backed by MuJoCo speaking the same bytes over a pseudo-terminal. Imports
``shared`` only.
"""
