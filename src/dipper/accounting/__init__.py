"""accounting module."""
