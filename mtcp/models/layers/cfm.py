"""Coherence Fusion Module: cross-task gating, coherence loss and merging."""

from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig

from ..utils import checkpoint
from .cbam import CBAM


@MODELS.register_module()
class CoherenceFusionModule(BaseModule):
    """Fuse a task's features with the other tasks' features (paper Sec. 3.3).

    1. Each auxiliary map ``a_j`` is gated by ``sigmoid(Conv1x1(a_j))`` (one
       gate per channel and pixel); the gated maps are concatenated and
       projected to ``channels`` by Conv1x1-BN-ReLU.
    2. ``Main' = ReLU(BN(CBAM(m)))`` and ``Aux' = ReLU(BN(CBAM(aux)))``.
    3. The coherence loss is the mean over pixels of
       ``1 - cos(Main', Aux')`` along channels.
    4. ``out = softmax(Q K^T / sqrt(C)) V`` with ``Q = Wq Aux'``,
       ``K = Wk Aux'`` and ``V = Main'``, every pixel a token, one head.
    5. The output is ``BN(CBAM(out))`` (plus ``m`` when ``residual``).

    Args:
        channels (int): Channels C of the main and auxiliary maps.
        num_aux (int): Number of auxiliary maps (tasks - 1), at least 1.
        kv_downsample (int): Average-pooling factor applied to the keys and
            values before the attention; 1 attends to every pixel. Default: 1.
        attention (str): ``'sdpa'`` uses
            :func:`torch.nn.functional.scaled_dot_product_attention`, which
            never materialises the (HW x HW) affinity; ``'naive'`` builds it
            explicitly and exists only to compare memory and to test the
            maths. Default: ``'sdpa'``.
        residual (bool): Add the main input to the output. Default: False.
        cbam_reduction (int): Reduction ratio of the CBAM channel MLPs.
            Default: 16.
        eps (float): Lower bound of the feature norms in the cosine, so
            all-zero feature vectors (frequent after a ReLU) give a finite loss
            and gradient. Default: 1e-6.
        norm_cfg (dict): Normalisation layer config. Default: ``dict(type='BN')``.
        with_cp (bool): Activation checkpointing of the steps before and
            after the attention (gates, projections, CBAMs, BNs, coherence
            loss): the backward recomputes them instead of keeping their
            activations; the attention keeps its own (its recomputation
            would cost about half of the model's forward FLOPs).
            Default: False.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(
        self,
        channels: int,
        num_aux: int,
        kv_downsample: int = 1,
        attention: str = "sdpa",
        residual: bool = False,
        cbam_reduction: int = 16,
        eps: float = 1e-6,
        norm_cfg: ConfigType = dict(type="BN"),
        with_cp: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_aux < 1:
            raise ValueError(
                f"CoherenceFusionModule needs num_aux >= 1 auxiliary tasks, got "
                f"{num_aux}; single-task models run without a CFM"
            )
        if kv_downsample < 1:
            raise ValueError(
                f"CoherenceFusionModule kv_downsample must be >= 1, got {kv_downsample}"
            )
        if attention not in ("sdpa", "naive"):
            raise ValueError(
                "CoherenceFusionModule attention must be 'sdpa' or 'naive', got "
                f"{attention!r}"
            )
        self.channels = channels
        self.num_aux = num_aux
        self.kv_downsample = kv_downsample
        self.attention = attention
        self.residual = residual
        self.eps = eps
        self.with_cp = with_cp

        self.gates = nn.ModuleList(
            [nn.Conv2d(channels, channels, 1) for _ in range(num_aux)]
        )
        self.aux_proj = ConvModule(
            num_aux * channels,
            channels,
            1,
            norm_cfg=norm_cfg,
            act_cfg=dict(type="ReLU"),
        )
        self.main_cbam = CBAM(channels, reduction=cbam_reduction)
        self.main_norm = build_norm_layer(norm_cfg, channels)[1]
        self.aux_cbam = CBAM(channels, reduction=cbam_reduction)
        self.aux_norm = build_norm_layer(norm_cfg, channels)[1]
        self.query = nn.Conv2d(channels, channels, 1)
        self.key = nn.Conv2d(channels, channels, 1)
        self.out_cbam = CBAM(channels, reduction=cbam_reduction)
        self.out_norm = build_norm_layer(norm_cfg, channels)[1]

    def coherence_loss(self, main: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """Mean over pixels of ``1 - cos(main, aux)`` along channels.

        ``cos = <m, a> / (max(|m|, eps) max(|a|, eps))``: the product of
        ``F.normalize(m)`` and ``F.normalize(a)`` summed over channels, with
        the division on the (B, H, W) norms instead of both full maps.
        """
        dot = (main * aux).sum(dim=1)
        norms = torch.linalg.vector_norm(main, dim=1).clamp_min(self.eps)
        norms = norms * torch.linalg.vector_norm(aux, dim=1).clamp_min(self.eps)
        return (1.0 - dot / norms).mean()

    def _check_inputs(self, main: torch.Tensor, aux: Sequence[torch.Tensor]) -> None:
        if main.dim() != 4 or main.size(1) != self.channels:
            raise ValueError(
                f"CoherenceFusionModule expects main of shape (B, {self.channels}, "
                f"H, W), got {tuple(main.shape)}"
            )
        if len(aux) != self.num_aux:
            raise ValueError(
                f"CoherenceFusionModule was built for {self.num_aux} auxiliary maps, "
                f"got {len(aux)}"
            )
        for j, a in enumerate(aux):
            if a.shape != main.shape:
                raise ValueError(
                    f"CoherenceFusionModule auxiliary map {j} has shape "
                    f"{tuple(a.shape)}; expected the main map's {tuple(main.shape)}"
                )

    @staticmethod
    def _to_tokens(x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, heads=1, H * W, C), contiguous: PyTorch's fused
        attention kernels take only 4-D inputs whose channels are the
        innermost dimension; anything else falls back to the math path,
        which materialises the affinity."""
        return x.flatten(2).transpose(1, 2).unsqueeze(1).contiguous()

    def _attend_tokens(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        """Attention of (B, 1, N, C) tokens, scaled by ``1 / sqrt(C)``."""
        # SDPA's default scale is 1/sqrt(q.size(-1)), the same 1/sqrt(C);
        # passing it keeps the maths explicit.
        scale = q.shape[-1] ** -0.5
        if self.attention == "sdpa":
            return F.scaled_dot_product_attention(q, k, v, scale=scale)
        affinity = torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1)
        return affinity @ v

    def attend(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
    ) -> torch.Tensor:
        """Single-head attention over pixels, scaled by ``1 / sqrt(C)``.

        Args:
            query (Tensor): (B, C, H, W).
            key (Tensor): (B, C, h, w).
            value (Tensor): (B, C, h, w).

        Returns:
            Tensor: (B, C, H, W).
        """
        out = self._attend_tokens(*map(self._to_tokens, (query, key, value)))
        return out.squeeze(1).transpose(1, 2).reshape(query.shape)

    def _before_attention(
        self, main: torch.Tensor, *aux: torch.Tensor
    ) -> Tuple[torch.Tensor, ...]:
        """Steps 1-3 and the projections: the query, key and value tokens
        (B, 1, N, C) and the coherence loss."""
        gated = torch.cat(
            [torch.sigmoid(gate(a)) * a for gate, a in zip(self.gates, aux)], dim=1
        )
        aux_feat = self.aux_proj(gated)
        # In place: a BN's backward needs its input, not its output.
        main_p = F.relu(self.main_norm(self.main_cbam(main)), inplace=True)
        aux_p = F.relu(self.aux_norm(self.aux_cbam(aux_feat)), inplace=True)
        loss = self.coherence_loss(main_p, aux_p)

        key = self.key(aux_p)
        value = main_p
        if self.kv_downsample > 1:
            # ceil_mode keeps the border pixels of sizes not divisible by the
            # factor; PyTorch averages partial windows over their valid part.
            key = F.avg_pool2d(key, self.kv_downsample, ceil_mode=True)
            value = F.avg_pool2d(value, self.kv_downsample, ceil_mode=True)
        q, k, v = map(self._to_tokens, (self.query(aux_p), key, value))
        return q, k, v, loss

    def _after_attention(self, out: torch.Tensor, main: torch.Tensor) -> torch.Tensor:
        """Step 5 on the attention's (B, 1, N, C) output tokens."""
        out = out.squeeze(1).transpose(1, 2).reshape(main.shape)
        return self.out_norm(self.out_cbam(out))

    def forward(
        self, main: torch.Tensor, aux: List[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Fuse ``main`` with the auxiliary maps.

        Args:
            main (Tensor): The task's own fused map (B, C, H, W).
            aux (list[Tensor]): The other tasks' fused maps, each (B, C, H, W).

        Returns:
            tuple[Tensor, Tensor]: The fused map (B, C, H, W) and the scalar
            coherence loss (not yet multiplied by any weight).
        """
        self._check_inputs(main, aux)
        q, k, v, loss = checkpoint(
            self._before_attention,
            main,
            *aux,
            enabled=self.with_cp,
            modules=[self],
        )
        out = checkpoint(
            self._after_attention,
            self._attend_tokens(q, k, v),
            main,
            enabled=self.with_cp,
            modules=[self.out_cbam, self.out_norm],
        )
        if self.residual:
            out = out + main
        return out, loss
