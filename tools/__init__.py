"""Development tools for this repository (not installed with the package)."""
