"""Deform & Learn Studio engine: body model, data, registration, learning. Never imports Qt."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("deformlearn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
