"""Simulated robots built in code from published physical parameters (no model downloads).

``base`` holds the MCU-style control loop shared by all of them; one module per robot holds its
model and its DayDreamer task. Tasks are listed in :data:`firmware_bridge.sim.tasks.TASKS`.
"""
