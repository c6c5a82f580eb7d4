"""Torch devices by name, as the command line and the app offer them: "auto", "cpu", "cuda", "cuda:1", "mps".

Both import torch only when a name other than "cpu" needs it, so a window or a `--help` opens without it.
"""

from __future__ import annotations


def resolve_device(device: str) -> str:
    """"auto" -> "cuda" when torch sees a CUDA GPU, else "cpu"; any other name as it is."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str, *, what: str = "--device", advice: str = "use --device cpu or auto") -> None:
    """ValueError "{what} {device}: the problem; {advice}" when torch cannot use `device` here (an unknown
    name, no CUDA GPU, an index out of range, no MPS); "cpu" always works and needs no torch import."""
    if device == "cpu":
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"{what} {device}: not a torch device (expected cpu, cuda, cuda:1, mps); {advice}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}, " + ("built with CUDA" if torch.version.cuda else "a CPU-only build")
            raise ValueError(f"{what} {device}: torch sees no CUDA GPU on this machine ({build}); {advice}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{what} {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0; {advice}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{what} {device}: MPS is not available on this machine; {advice}")
