"""The round command's regressor options: a crop input with a point architecture is refused before any work."""

from __future__ import annotations

from deformlearn.core.cli.parser import main


def test_round_refuses_a_crop_input_for_a_point_architecture(tmp_path, capsys) -> None:
    code = main(["round", str(tmp_path / "nowhere"), "--input", "rgb", "--architecture", "pointset"])
    err = capsys.readouterr().err
    assert code == 2 and "--input rgb is the convnet's crop" in err and "--architecture pointset" in err
    assert not (tmp_path / "nowhere").exists()
