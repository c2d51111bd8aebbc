"""A U-Net decoder on the ResNet encoder (``training/nets/resnet.py``).

The encoder gives features at strides 2, 4, 8, 16 and 32; the decoder
upsamples the deepest one step by step, concatenating the skip feature of the
same stride, and a last upsampling returns to full resolution. Plain torch,
small widths so it trains on a CPU.
"""

import torch
from torch import nn
from torch.nn import functional as F

from .resnet import ResNetEncoder


def _conv_bn_relu(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DecoderBlock(nn.Module):
    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.conv = nn.Sequential(_conv_bn_relu(cin + cskip, cout), _conv_bn_relu(cout, cout))

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


class ResNetUNet(nn.Module):
    """U-Net with a ResNet encoder; returns logits (N, classes, H, W)."""

    def __init__(self, in_channels, classes=1, widths=(16, 32, 64, 128), blocks=(2, 2, 2, 2),
                 decoder_widths=None):
        super().__init__()
        self.encoder = ResNetEncoder(in_channels, widths=widths, blocks=blocks, output_stride=32)
        enc = self.encoder.channels  # strides 2, 4, 8, 16, 32
        dec = decoder_widths or (enc[3], enc[2], enc[1], enc[0])
        self.up16 = DecoderBlock(enc[4], enc[3], dec[0])
        self.up8 = DecoderBlock(dec[0], enc[2], dec[1])
        self.up4 = DecoderBlock(dec[1], enc[1], dec[2])
        self.up2 = DecoderBlock(dec[2], enc[0], dec[3])
        self.head = nn.Sequential(_conv_bn_relu(dec[3] + in_channels, dec[3]), nn.Conv2d(dec[3], classes, 1))

    def forward(self, x):
        f2, f4, f8, f16, f32 = self.encoder(x)
        y = self.up16(f32, f16)
        y = self.up8(y, f8)
        y = self.up4(y, f4)
        y = self.up2(y, f2)
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        # The full-resolution input joins the head so thin channels keep their edges.
        return self.head(torch.cat([y, x], dim=1))


if __name__ == "__main__":
    net = ResNetUNet(2)
    print(net(torch.zeros(1, 2, 256, 256)).shape, sum(p.numel() for p in net.parameters()))
