"""The three CSI classifiers in plain torch, each its family's layout at a reduced width (``base_width``).

- ``ResNet50``: a 7x7 stride-2 stem and max pooling, then bottleneck residual blocks (1x1 reduce, 3x3, 1x1
  expand by 4, identity or projected shortcut) in four stages of 3, 4, 6 and 3 blocks at widths w, 2w, 4w, 8w,
  global average pooling and a linear classifier (the original: w = 64).
- ``CheXNet``: DenseNet-121, the network CheXNet fine-tunes on chest radiographs: the same stem, four dense
  blocks of 6, 12, 24 and 16 layers (BN-ReLU-1x1 conv to 4 x growth, BN-ReLU-3x3 conv to growth, concatenated)
  with transitions halving channels and resolution, growth rate w / 2 (the original: 32).
- ``Custom_1``: a plain CNN: three conv-BN-ReLU stages of w, 2w, 4w channels with max pooling, global average
  pooling, dropout and a linear classifier.

Input: [batch, 1, size, size] standardised grey levels; output: one logit per class.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(channels_in, channels_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(channels_out),
    ]


def _stem(width: int) -> nn.Sequential:
    return nn.Sequential(*_conv_bn(1, width, 7, stride=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, padding=1))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, channels_in: int, planes: int, stride: int) -> None:
        super().__init__()
        out = planes * self.expansion
        self.body = nn.Sequential(
            *_conv_bn(channels_in, planes, 1),
            nn.ReLU(inplace=True),
            *_conv_bn(planes, planes, 3, stride),
            nn.ReLU(inplace=True),
            *_conv_bn(planes, out, 1),
        )
        nn.init.zeros_(self.body[-1].weight)  # each residual branch starts as the identity
        projected = stride != 1 or channels_in != out
        self.shortcut = nn.Sequential(*_conv_bn(channels_in, out, 1, stride)) if projected else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def resnet50(width: int, n_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = [_stem(width)]
    channels = width
    for stage, blocks in enumerate((3, 4, 6, 3)):
        planes = width * 2**stage
        for block in range(blocks):
            layers.append(Bottleneck(channels, planes, stride=2 if stage > 0 and block == 0 else 1))
            channels = planes * Bottleneck.expansion
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes))


class DenseLayer(nn.Module):
    def __init__(self, channels_in: int, growth: int, bottleneck: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels_in),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels_in, bottleneck * growth, 1, bias=False),
            nn.BatchNorm2d(bottleneck * growth),
            nn.ReLU(inplace=True),
            nn.Conv2d(bottleneck * growth, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


def _transition(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(channels_in),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels_in, channels_out, 1, bias=False),
        nn.AvgPool2d(2, ceil_mode=True),
    )


def chexnet(width: int, n_classes: int) -> nn.Sequential:
    """DenseNet-121 with growth rate ``width // 2`` and ``width`` stem channels (the original: 32 and 64)."""
    growth = max(1, width // 2)
    layers: list[nn.Module] = [_stem(width)]
    channels = width
    for index, count in enumerate((6, 12, 24, 16)):
        for _ in range(count):
            layers.append(DenseLayer(channels, growth))
            channels += growth
        if index < 3:
            layers.append(_transition(channels, channels // 2))
            channels //= 2
    return nn.Sequential(
        *layers,
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, n_classes),
    )


def custom_1(width: int, n_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 1
    for stage in range(3):
        out = width * 2**stage
        layers += [*_conv_bn(channels, out, 3), nn.ReLU(inplace=True)]
        if stage < 2:
            layers.append(nn.MaxPool2d(2))
        channels = out
    return nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(channels, n_classes)
    )


ARCHITECTURES = {"ResNet50": resnet50, "CheXNet": chexnet, "Custom_1": custom_1}


def build_network(architecture: str, width: int, n_classes: int) -> nn.Sequential:
    return ARCHITECTURES[architecture](width, n_classes)


__all__ = ["ARCHITECTURES", "build_network", "chexnet", "custom_1", "resnet50"]
