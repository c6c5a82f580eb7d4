"""The one shape check: sizes, letters tied across arrays, leading "...", and the message it gives."""

import numpy as np
import pytest
import torch

from deformlearn.core.shape_checks import check_shape


def test_letters_bind_and_tie_arrays_together():
    sizes = check_shape(torch.zeros(4, 10, 3), ("B", "N", 3), "points")
    assert sizes == {"B": 4, "N": 10}
    assert check_shape(np.zeros((4, 10)), ("B", "N"), "mask", sizes) == sizes
    with pytest.raises(ValueError, match=r"^mask: expected shape \(B=4, N=10\), got \(4, 9\)$"):
        check_shape(np.zeros((4, 9)), ("B", "N"), "mask", sizes)
    with pytest.raises(ValueError, match="pairs"):
        check_shape(torch.zeros(2, 3), ("N", "N"), "pairs")


def test_sizes_rank_none_and_leading_dims():
    check_shape(torch.zeros(2, 7, 3, 3), ("...", 3, 3), "rotmat")
    check_shape(torch.zeros(3, 3), ("...", 3, 3), "rotmat")
    check_shape(torch.zeros(5, 2), (None, 2), "xy")
    with pytest.raises(ValueError, match=r"rotmat: expected shape \(\.\.\., 3, 3\), got \(3,\)"):
        check_shape(torch.zeros(3), ("...", 3, 3), "rotmat")
    with pytest.raises(ValueError, match=r"xy: expected shape \(\*, 2\), got \(5, 2, 1\)"):
        check_shape(torch.zeros(5, 2, 1), (None, 2), "xy")
    with pytest.raises(ValueError, match="got \\(5, 3\\)"):
        check_shape(torch.zeros(5, 3), (5, 2), "xy")
    with pytest.raises(TypeError, match="xy: expected an array or tensor, got list"):
        check_shape([[0.0, 0.0]], (1, 2), "xy")
