"""Files the engine writes and reads: crash-safe atomic writes and weights-only torch files."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["atomic", "torch_files"],
    submod_attrs={
        "atomic": ["atomic_write"],
        "torch_files": ["load_torch_file"],
    },
)
