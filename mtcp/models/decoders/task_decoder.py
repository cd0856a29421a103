"""Hierarchical window-attention task decoder (docs/model.md)."""

from functools import partial
from typing import List, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init, trunc_normal_init
from mmseg.models.backbones.swin import SwinBlockSequence
from mmseg.models.utils.embed import PatchMerging
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig
from torch import Tensor

from ..utils import checkpoint


@MODELS.register_module()
class HierarchicalTaskDecoder(BaseModule):
    """Swin stages on the stride-4 map, one token per pixel, then pyramid fusion.

    Stage ``i`` has ``in_channels * 2**i`` channels; a ``PatchMerging``
    between stages halves the resolution (ceil for odd sizes) and doubles the
    channels. Window attention pads maps whose size is not a multiple of the
    window. Every stage output is layer-normalised (as Swin does for its
    outputs) and the pyramid goes through the ``fusion`` module.

    Args:
        in_channels (int): C, channels of the input map. Defaults to 256.
        depths (Sequence[int]): Swin blocks per stage. Defaults to (1, 2, 1).
        num_heads (Sequence[int]): attention heads per stage.
            Defaults to (2, 2, 2).
        window_size (int): attention window. Defaults to 7.
        mlp_ratio (float): MLP hidden channels / channels. Defaults to 4.
        drop_path_rate (float): stochastic depth rate, increased linearly
            over the blocks up to this value. Defaults to 0.
        fusion (dict): the fusion module config; ``in_channels`` and
            ``out_channels`` are filled in. Defaults to
            ``dict(type='PyramidFusion', adaptive=True)``.
        with_cp (bool): activation checkpointing in the Swin blocks (mmseg's)
            and of the stage norms with the fusion (saves memory, costs a
            second forward). Defaults to False.
        norm_cfg (dict): norm of the Swin blocks, the patch merging and the
            stage outputs. Defaults to ``dict(type='LN')``.
        init_cfg (dict or list[dict], optional): initialisation config.
    """

    def __init__(
        self,
        in_channels: int = 256,
        depths: Sequence[int] = (1, 2, 1),
        num_heads: Sequence[int] = (2, 2, 2),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
        fusion: ConfigType = dict(type="PyramidFusion", adaptive=True),
        with_cp: bool = False,
        norm_cfg: ConfigType = dict(type="LN"),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(depths) != len(num_heads):
            raise ValueError(
                "HierarchicalTaskDecoder: depths and num_heads need one entry per "
                f"stage, got depths={list(depths)}, num_heads={list(num_heads)}"
            )
        channels = [in_channels * 2**i for i in range(len(depths))]
        for c, heads in zip(channels, num_heads):
            if c % heads:
                raise ValueError(
                    f"HierarchicalTaskDecoder: {c} channels are not divisible by "
                    f"{heads} heads (in_channels={in_channels})"
                )
        self.in_channels = in_channels
        self.out_channels = channels
        self.with_cp = with_cp
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i, (c, depth, heads) in enumerate(zip(channels, depths, num_heads)):
            last = i == len(depths) - 1
            self.stages.append(
                SwinBlockSequence(
                    embed_dims=c,
                    num_heads=heads,
                    feedforward_channels=int(mlp_ratio * c),
                    depth=depth,
                    window_size=window_size,
                    drop_path_rate=rates[sum(depths[:i]) : sum(depths[: i + 1])],
                    downsample=None
                    if last
                    else PatchMerging(c, 2 * c, norm_cfg=norm_cfg),
                    norm_cfg=norm_cfg,
                    with_cp=with_cp,
                )
            )
            self.norms.append(build_norm_layer(norm_cfg, c)[1])
        fusion = ConfigDict(fusion)
        fusion.update(in_channels=channels, out_channels=in_channels)
        self.fusion = MODELS.build(fusion)

    def init_weights(self) -> None:
        """Swin's initialisation for the transformer stages."""
        super().init_weights()
        for m in self.stages.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_init(m, std=0.02, bias=0.0)
            elif isinstance(m, nn.LayerNorm):
                constant_init(m, 1.0, 0.0)

    def forward(self, x: Tensor) -> Tuple[List[Tensor], Tensor]:
        """Decode one task.

        Args:
            x (Tensor): the shared map (B, C, h, w) at stride 4.

        Returns:
            tuple: ``stages``, the maps (B, C * 2**i, ceil(h / 2**i),
            ceil(w / 2**i)) of every stage, and ``fused`` (B, C, h, w).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"HierarchicalTaskDecoder expects (B, {self.in_channels}, h, w), "
                f"got {tuple(x.shape)}"
            )
        hw_shape = tuple(x.shape[-2:])
        tokens = x.flatten(2).transpose(1, 2)
        outs, shapes = [], []
        for stage in self.stages:
            tokens, next_hw_shape, out, hw_shape = stage(tokens, hw_shape)
            outs.append(out)
            shapes.append(hw_shape)
            hw_shape = next_hw_shape
        return checkpoint(
            partial(self._norm_and_fuse, shapes),
            *outs,
            enabled=self.with_cp,
            modules=[self.norms, self.fusion],
        )

    def _norm_and_fuse(
        self, shapes: List[Tuple[int, int]], *outs: Tensor
    ) -> Tuple[List[Tensor], Tensor]:
        """Layer-normalise the stage tokens into maps and fuse them."""
        stages = [
            norm(out).transpose(1, 2).reshape(out.shape[0], -1, *hw).contiguous()
            for norm, out, hw in zip(self.norms, outs, shapes)
        ]
        return stages, self.fusion(stages)
