"""firmware_bridge package: the serial link between the robot computer and its microcontroller.

``messages`` (the one message table) → ``framing`` (COBS frames with CRC-32 and the table hash)
→ ``parser`` (incremental, never raises) → ``transport`` (pyserial / pty, ``LinkConfig``) →
``host`` (``FirmwareDriver``). ``sim/`` holds a simulated firmware (``sim.engine``) and the
MuJoCo robots it drives. The wire format is specified in docs/SERIAL.md.
"""
