"""offboard package."""
