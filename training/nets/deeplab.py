"""DeepLabV3+ (Chen et al. 2018) in plain torch, as CALFIN uses it.

ResNet encoder at output stride 16 (last stage dilated), atrous spatial
pyramid pooling (ASPP) on the deepest feature, and a decoder that upsamples
ASPP by 4 and fuses it with the stride-4 low-level feature before the final
x4 upsampling. ``out_channels`` heads share everything but the last 1x1
convolution (CALFIN: front edge + ice/land mask). Returns logits.
"""

import torch
from torch import nn
from torch.nn import functional as F

from .resnet import ResNetEncoder


def conv_bn_relu(cin, cout, k=3, dilation=1):
    pad = 0 if k == 1 else dilation
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ASPP(nn.Module):
    """1x1 conv, three atrous 3x3 convs and image-level pooling, concatenated and projected."""

    def __init__(self, cin, cout, rates=(6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(cin, cout, 1)] + [conv_bn_relu(cin, cout, 3, r) for r in rates])
        # Image pooling without BatchNorm: a batch of 1 x 1 x 1 maps breaks BN statistics.
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))
        self.project = nn.Sequential(conv_bn_relu(cout * (len(rates) + 2), cout, 1), nn.Dropout(0.1))

    def forward(self, x):
        h, w = x.shape[-2:]
        outs = [b(x) for b in self.branches]
        outs.append(self.pool(x).expand(-1, -1, h, w))  # constant map; expand exports cleanly
        return self.project(torch.cat(outs, 1))


class DeepLabV3Plus(nn.Module):
    def __init__(self, in_channels=3, out_channels=2, widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1),
                 aspp_channels=64, low_channels=24, decoder_channels=64, rates=(6, 12, 18)):
        super().__init__()
        self.encoder = ResNetEncoder(in_channels, widths=widths, blocks=blocks, output_stride=16)
        deep, low = self.encoder.channels[-1], self.encoder.channels[1]  # stride 16 and stride 4 features
        self.aspp = ASPP(deep, aspp_channels, rates)
        self.low = conv_bn_relu(low, low_channels, 1)
        self.decoder = nn.Sequential(
            conv_bn_relu(aspp_channels + low_channels, decoder_channels),
            conv_bn_relu(decoder_channels, decoder_channels),
        )
        self.head = nn.Conv2d(decoder_channels, out_channels, 1)
        self.config = dict(in_channels=in_channels, out_channels=out_channels, widths=list(widths),
                           blocks=list(blocks), aspp_channels=aspp_channels, low_channels=low_channels,
                           decoder_channels=decoder_channels, rates=list(rates))

    def forward(self, x):
        size = x.shape[-2:]
        feats = self.encoder(x)
        low = self.low(feats[1])
        deep = self.aspp(feats[-1])
        deep = F.interpolate(deep, size=low.shape[-2:], mode="bilinear", align_corners=False)
        y = self.decoder(torch.cat([deep, low], 1))
        return F.interpolate(self.head(y), size=size, mode="bilinear", align_corners=False)


if __name__ == "__main__":  # quick shape and size check
    net = DeepLabV3Plus()
    print(tuple(net(torch.zeros(2, 3, 192, 192)).shape), sum(p.numel() for p in net.parameters()), "parameters")
