"""Build the MONAI network named by a spec: 2 input channels (CT, PET), 3 classes
(background, GTVp, GTVn), 3D."""

from __future__ import annotations

from monai.networks.nets import SegResNet, UNet
from torch import nn

from radiomics_hnc.segment.spec import SegResNetSpec, UNetSpec

IN_CHANNELS = 2
#: Output classes: 0 background, 1 GTVp, 2 GTVn.
N_CLASSES = 3


def build_network(spec: UNetSpec | SegResNetSpec) -> nn.Module:
    """The MONAI ``UNet`` or ``SegResNet`` with the spec's keyword arguments."""
    if isinstance(spec, UNetSpec):
        return UNet(
            spatial_dims=3, in_channels=IN_CHANNELS, out_channels=N_CLASSES,
            channels=spec.channels, strides=spec.strides, num_res_units=spec.num_res_units,
            dropout=spec.dropout, norm=spec.norm,
        )
    return SegResNet(
        spatial_dims=3, in_channels=IN_CHANNELS, out_channels=N_CLASSES,
        init_filters=spec.init_filters, blocks_down=spec.blocks_down, blocks_up=spec.blocks_up,
        dropout_prob=spec.dropout_prob,
    )


def patch_multiple(spec: UNetSpec | SegResNetSpec) -> int:
    """Patch sides must be multiples of this (the network's total down-sampling factor)."""
    if isinstance(spec, UNetSpec):
        factor = 1
        for stride in spec.strides:
            factor *= stride
        return factor
    return 2 ** (len(spec.blocks_down) - 1)
