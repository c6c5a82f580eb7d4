"""The round command's regressor options: a crop input with a point architecture is refused before any work."""

from __future__ import annotations

from deformlearn.core.cli.parser import main


def test_round_refuses_a_crop_input_for_a_point_architecture(tmp_path, capsys) -> None:
    code = main(["round", str(tmp_path / "nowhere"), "--input", "rgb", "--architecture", "pointset"])
    err = capsys.readouterr().err
    assert code == 2 and "--input rgb is the convnet's crop" in err and "--architecture pointset" in err
    assert not (tmp_path / "nowhere").exists()


def test_round_offers_every_regressor_architecture() -> None:
    # the command line spells the choices out (building it must not import torch): they must not drift
    from deformlearn.core.cli.parser import build_parser
    from deformlearn.core.regressor.encoders import ARCHITECTURES

    round_parser = build_parser()._subparsers._group_actions[0].choices["round"]
    [action] = [a for a in round_parser._actions if a.dest == "architecture"]
    assert set(action.choices) == set(ARCHITECTURES)
