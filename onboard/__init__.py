"""onboard package."""
