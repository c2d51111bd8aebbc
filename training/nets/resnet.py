"""A ResNet encoder (basic blocks, as ResNet-18/34) returning multi-scale features.

Plain torch because torchvision is not available here. ``widths`` lets small
CPU-trained models use fewer channels than the ImageNet ResNet (64..512).
"""

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1, dilation=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetEncoder(nn.Module):
    """Stem (stride 4) and four stages; returns features at strides 2, 4, 8, 16, 32.

    ``output_stride=16`` dilates the last stage instead of striding it, as
    DeepLabV3+ does, so the deepest feature is at stride 16.
    """

    def __init__(self, in_channels, widths=(32, 64, 128, 256), blocks=(2, 2, 2, 2), output_stride=32):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks)):
            stride = 1 if i == 0 else 2
            dilation = 1
            if output_stride == 16 and i == 3:
                stride, dilation = 1, 2
            layers = [BasicBlock(cin, width, stride, dilation)]
            layers += [BasicBlock(width, width, 1, dilation) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            cin = width
        self.stages = nn.ModuleList(stages)
        self.channels = (widths[0],) + tuple(widths)

    def forward(self, x):
        feats = []
        x = self.stem(x)
        feats.append(x)  # stride 2
        x = self.pool(x)
        for stage in self.stages:
            x = stage(x)
            feats.append(x)  # strides 4, 8, 16, 32 (or 16 twice)
        return feats


def resnet18_encoder(in_channels, **kwargs):
    return ResNetEncoder(in_channels, blocks=(2, 2, 2, 2), **kwargs)


def resnet34_encoder(in_channels, **kwargs):
    return ResNetEncoder(in_channels, blocks=(3, 4, 6, 3), **kwargs)


if __name__ == "__main__":  # quick shape check
    enc = resnet18_encoder(3)
    print([tuple(f.shape) for f in enc(torch.zeros(1, 3, 256, 256))])
