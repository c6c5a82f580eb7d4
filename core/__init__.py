"""Deform & Learn Studio engine: body model, data, registration, learning. Never imports Qt.

One subpackage per room (README, Layout). Each subpackage's `__init__` is its public face: the names the app and
the other subpackages use, loaded on first use (lazy_loader), so importing a package stays cheap (no torch until
something needs it).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("deformlearn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
