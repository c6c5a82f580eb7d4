"""Image backbones of the regressor's encoders: a small CNN for the CPU and torchvision's ResNets.

Each returns (module, features): the module maps (B, C, H, W) float images to (B, features) vectors.
ImageNet weights for the ResNets are used only when present on disk (an explicit path, or torchvision's cache
folder); nothing is ever downloaded.
"""

from __future__ import annotations

import glob
import os
import warnings

import torch
from torch import nn

from deformlearn.core.files.torch_files import load_torch_file

BACKBONES = ("resnet50", "resnet18", "small")


def small_backbone(in_channels: int) -> tuple[nn.Module, int]:
    """Five stride-2 blocks of two 3x3 convolutions. GroupNorm, not BatchNorm: per-sample statistics make
    small batches behave and make data-parallel training equal to single-process training."""
    layers: list[nn.Module] = []
    channels = [in_channels, 32, 64, 128, 192, 256]
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.GroupNorm(8, c_out),
                   nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                   nn.GroupNorm(8, c_out), nn.ReLU(inplace=True)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), channels[-1]


def find_imagenet_weights(backbone: str, explicit: str | None) -> str | None:
    """The path of local ImageNet weights for `backbone`, or None. Looks only on disk, never downloads."""
    if explicit:
        if not os.path.isfile(explicit):
            raise FileNotFoundError(f"{explicit}: pretrained weights file not found")
        return explicit
    checkpoints = os.path.join(torch.hub.get_dir(), "checkpoints")
    found = sorted(glob.glob(os.path.join(checkpoints, f"{backbone}-*.pth")))
    return found[-1] if found else None


def resnet_backbone(name: str, in_channels: int, *, pretrained: bool, weights: str | None,
                    rgb_first: bool) -> tuple[nn.Module, int]:
    """torchvision's `name` ResNet without its classifier, its first convolution widened to `in_channels`.

    pretrained: load ImageNet weights (`find_imagenet_weights(name, weights)`; a warning when none is on
    disk). rgb_first: the input's first 3 channels are RGB, so they keep the (pretrained) first filters; the
    other channels' filters start fresh.
    """
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    if pretrained:
        path = find_imagenet_weights(name, weights)
        if path is None:
            warnings.warn(
                f"no ImageNet weights for {name} on disk (give a path, or place torchvision's file "
                f"in {os.path.join(torch.hub.get_dir(), 'checkpoints')}); starting from random initialisation",
                stacklevel=4,
            )
        else:
            net.load_state_dict(load_torch_file(path, f"{name} ImageNet weights"))
    if in_channels != 3 or not rgb_first:
        old = net.conv1
        conv = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        if rgb_first:
            with torch.no_grad():
                conv.weight[:, :3] = old.weight
        net.conv1 = conv
    features = net.fc.in_features
    net.fc = nn.Identity()
    return net, features


def image_backbone(name: str, in_channels: int, *, pretrained: bool, weights: str | None = None,
                   rgb_first: bool = False) -> tuple[nn.Module, int]:
    """`small_backbone` or `resnet_backbone` by name (one of BACKBONES)."""
    if name == "small":
        return small_backbone(in_channels)
    return resnet_backbone(name, in_channels, pretrained=pretrained, weights=weights, rgb_first=rgb_first)
