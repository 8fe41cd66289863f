"""The version, in one place the packaging and the User-Agent header both read."""

__version__ = "0.1.0"
