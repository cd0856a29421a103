"""Export-only forms of the parts of MT-CP that ONNX cannot express as they are.

- mmdet's Mask2Former pixel decoder and mmcv's multi-scale deformable
  attention carry the feature-map sizes in a tensor (``spatial_shapes``)
  read back with Python loops and ``split``: ``torch.export`` cannot trace
  sizes read out of tensor data, and TorchScript tracing freezes them. On
  CUDA, mmcv's attention also calls its compiled kernel, an ONNX custom op
  ONNX Runtime lacks. :class:`ExportablePixelDecoder` and
  :class:`ExportableMSDeformAttn` keep the sizes as (symbolic) integers and
  sample with ``grid_sample`` on every device (the maths of mmcv's
  ``multi_scale_deformable_attn_pytorch``; Zhu et al., "Deformable DETR",
  ICLR 2021, eq. 2).
- mmseg's Swin window attention recovers the batch size with a float
  division and pads under Python conditions on the sizes:
  :class:`ExportableShiftWindowMSA`.
- The CFM's ``scaled_dot_product_attention`` exports, but as a graph that
  holds more than the affinity: :class:`ExportableCoherenceFusionModule`
  attends explicitly, a block of queries at a time.

:func:`export_mode` gives a model's modules these classes (subclasses, same
parameters, only ``forward`` or the attention differs) for as long as it is
active; training and inference never run them. ``tests/test_deployment``
checks each against the module it replaces in float64.
"""

from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.layers import MSDeformAttnPixelDecoder
from mmseg.models.backbones.swin import ShiftWindowMSA
from torch import Tensor

from mtcp.models.layers import CoherenceFusionModule

Size = Tuple[int, int]


def deformable_sampling(
    value: Tensor,
    sizes: Sequence[Size],
    locations: Tensor,
    weights: Tensor,
) -> Tensor:
    """Multi-scale deformable attention by bilinear ``grid_sample``.

    Args:
        value (Tensor): (B, sum_l h_l * w_l, heads, D), the levels flattened
            one after the other.
        sizes (Sequence[tuple[int, int]]): (h_l, w_l) of each level.
        locations (Tensor): (B, Q, heads, L, P, 2) sampling points as (x, y)
            in [0, 1] of each level (outside: zeros).
        weights (Tensor): (B, Q, heads, L, P) attention weights.

    Returns:
        Tensor: (B, Q, heads * D), per head the weighted sum over levels and
        points of the sampled values.
    """
    batch, _, heads, dims = value.shape
    queries, points = locations.shape[1], locations.shape[4]
    per_level = value.split([h * w for h, w in sizes], dim=1)
    # grid_sample wants [-1, 1] with align_corners=False: pixel centres.
    grids = locations * 2 - 1
    sampled = []
    for level, (h, w) in enumerate(sizes):
        # (B, h*w, heads, D) -> (B*heads, D, h, w)
        maps = per_level[level].permute(0, 2, 3, 1).reshape(batch * heads, dims, h, w)
        # (B, Q, heads, P, 2) -> (B*heads, Q, P, 2)
        grid = (
            grids[:, :, :, level]
            .transpose(1, 2)
            .reshape(batch * heads, queries, points, 2)
        )
        sampled.append(
            F.grid_sample(
                maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False
            )
        )
    # (B*heads, D, Q, L*P) times (B*heads, 1, Q, L*P), summed over L*P
    stacked = torch.stack(sampled, dim=-2).flatten(-2)
    weights = weights.transpose(1, 2).reshape(batch * heads, 1, queries, -1)
    out = (stacked * weights).sum(-1).view(batch, heads * dims, queries)
    return out.transpose(1, 2)


class ExportableMSDeformAttn(MultiScaleDeformableAttention):
    """mmcv's ``MultiScaleDeformableAttention`` with ``spatial_shapes`` given
    as a list of (h, w) integers and ``grid_sample`` on every device.

    Same parameters and maths; only the encoder of
    :class:`ExportablePixelDecoder` calls it (batch-first queries,
    reference points (B, Q, L, 2)).
    """

    def forward(
        self,
        query: Tensor,
        value: Optional[Tensor] = None,
        query_pos: Optional[Tensor] = None,
        key_padding_mask: Optional[Tensor] = None,
        reference_points: Optional[Tensor] = None,
        spatial_shapes: Optional[List[Size]] = None,
        **kwargs,
    ) -> Tensor:
        """Attend from ``query`` (B, Q, C) to ``value`` (B, sum h*w, C)."""
        if not self.batch_first or reference_points.shape[-1] != 2:
            raise ValueError(
                "ExportableMSDeformAttn supports batch-first queries with (x, y) "
                "reference points, as Mask2Former's pixel decoder uses them"
            )
        identity = query
        value = query if value is None else value
        if query_pos is not None:
            query = query + query_pos
        batch, queries, _ = query.shape
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(batch, value.shape[1], self.num_heads, -1)
        shape = (batch, queries, self.num_heads, self.num_levels, self.num_points)
        offsets = self.sampling_offsets(query).view(*shape, 2)
        weights = self.attention_weights(query).view(*shape[:3], -1).softmax(-1)
        # offsets are in pixels of each level: divided by its (w, h)
        level_wh = torch.stack(
            [
                torch.stack([offsets.new_full((), w), offsets.new_full((), h)])
                for h, w in spatial_shapes
            ]
        )
        locations = (
            reference_points[:, :, None, :, None, :]
            + offsets / level_wh[None, None, None, :, None, :]
        )
        out = deformable_sampling(value, spatial_shapes, locations, weights.view(shape))
        return self.dropout(self.output_proj(out)) + identity


class ExportablePixelDecoder(MSDeformAttnPixelDecoder):
    """mmdet's ``MSDeformAttnPixelDecoder`` with the level sizes kept as
    integers: same parameters, same maths, no size read back from a tensor.

    Its encoder's deformable attentions must be
    :class:`ExportableMSDeformAttn` (as :func:`export_mode` makes them).
    """

    def forward(self, feats: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """Return the mask features (B, C, H/4, W/4) and the multi-scale
        features, coarsest first, as mmdet's pixel decoder does."""
        batch = feats[0].shape[0]
        tokens, positions, references, sizes = [], [], [], []
        for i in range(self.num_encoder_levels):
            level = self.num_input_levels - i - 1
            feat = feats[level]
            h, w = feat.shape[-2:]
            no_padding = feat.new_zeros((batch, h, w), dtype=torch.bool)
            pos = self.postional_encoding(no_padding)
            pos = pos + self.level_encoding.weight[i].view(1, -1, 1, 1)
            # pixel centres in [0, 1] of the level
            centres = self.point_generator.single_level_grid_priors(
                (h, w), level, device=feat.device
            )
            stride = self.strides[level]
            references.append(
                torch.stack(
                    [centres[:, 0] / (w * stride), centres[:, 1] / (h * stride)], -1
                )
            )
            tokens.append(self.input_convs[i](feat).flatten(2).transpose(1, 2))
            positions.append(pos.flatten(2).transpose(1, 2))
            sizes.append((h, w))
        reference_points = torch.cat(references)[None, :, None].repeat(
            batch, 1, self.num_encoder_levels, 1
        )
        memory = self.encoder(
            query=torch.cat(tokens, dim=1),
            query_pos=torch.cat(positions, dim=1),
            key_padding_mask=None,
            spatial_shapes=sizes,
            reference_points=reference_points,
            level_start_index=None,
            valid_ratios=None,
        )
        memory = memory.transpose(1, 2)
        outs = [
            x.reshape(batch, -1, h, w)
            for x, (h, w) in zip(memory.split([h * w for h, w in sizes], -1), sizes)
        ]
        for i in range(self.num_input_levels - self.num_encoder_levels - 1, -1, -1):
            lateral = self.lateral_convs[i](feats[i])
            top_down = F.interpolate(
                outs[-1], size=lateral.shape[-2:], mode="bilinear", align_corners=False
            )
            outs.append(self.output_convs[i](lateral + top_down))
        return self.mask_feature(outs[-1]), outs[: self.num_outs]


class ExportableShiftWindowMSA(ShiftWindowMSA):
    """mmseg's Swin ``ShiftWindowMSA`` with the batch size carried through.

    mmseg recovers the batch size from the window count with a float
    division (``int(windows / (H * W / window**2))``), which a symbolic
    export cannot carry and which pins the exported batch; it pads and
    crops under Python conditions on the sizes. Here the batch size is
    kept, the crop is always applied (a no-op without padding) and the
    shifted-window mask (Liu et al., "Swin Transformer", ICCV 2021,
    section 3.2) is built from index comparisons instead of slice
    assignments. Same parameters and maths.
    """

    def forward(self, query: Tensor, hw_shape: Size) -> Tensor:
        """(B, H*W, C) tokens of an (H, W) map -> (B, H*W, C)."""
        batch, _, channels = query.shape
        h, w = hw_shape
        size, shift = self.window_size, self.shift_size
        # The window counts, from which every padded size follows: a
        # symbolic export keeps them as one term instead of re-deriving
        # them from ``(size - h % size) % size`` paddings.
        rows, cols = (h + size - 1) // size, (w + size - 1) // size
        x = query.view(batch, h, w, channels)
        x = F.pad(x, (0, 0, 0, cols * size - w, 0, rows * size - h))
        mask = None
        if shift > 0:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            mask = self._shift_mask(rows, cols, x)
        windows = self._partition(x, rows, cols).view(-1, size * size, channels)
        windows = self.w_msa(windows, mask=mask)
        x = self._merge(windows, batch, rows, cols)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        x = x[:, :h, :w, :].reshape(batch, h * w, channels)
        return self.drop(x)

    def _partition(self, x: Tensor, rows: int, cols: int) -> Tensor:
        """(B, rows * size, cols * size, C) -> (B * rows * cols, size, size,
        C), windows in row-major order."""
        size = self.window_size
        x = x.view(x.shape[0], rows, size, cols, size, x.shape[-1])
        return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, size, size, x.shape[-1])

    def _merge(self, windows: Tensor, batch: int, rows: int, cols: int) -> Tensor:
        """(B * rows * cols, size * size, C) -> (B, rows * size, cols * size, C)."""
        size = self.window_size
        x = windows.view(batch, rows, cols, size, size, windows.shape[-1])
        x = x.permute(0, 1, 3, 2, 4, 5)
        return x.reshape(batch, rows * size, cols * size, windows.shape[-1])

    def _shift_mask(self, rows: int, cols: int, like: Tensor) -> Tensor:
        """(rows * cols, size^2, size^2): -100 between pixels of different
        regions of the shifted map, 0 within one (Swin's mask)."""
        size, shift = self.window_size, self.shift_size

        def regions(n: int) -> Tensor:
            # 0 before the last window, 1 in it before the shift, 2 after
            index = torch.arange(n * size, device=like.device)
            last = (n - 1) * size
            return (index >= last).long() + (index >= last + size - shift).long()

        region = regions(rows)[:, None] * 3 + regions(cols)[None, :]
        windows = self._partition(region[None, :, :, None], rows, cols)
        windows = windows.view(-1, size * size)
        different = windows[:, None, :] != windows[:, :, None]
        return torch.where(different, -100.0, 0.0).to(like.dtype)


class ExportableCoherenceFusionModule(CoherenceFusionModule):
    """The CFM with its attention computed explicitly, a block of queries at
    a time.

    ``scaled_dot_product_attention`` exports, but as a decomposition whose
    graph needs three times the memory of the explicit
    ``softmax(Q K^T / sqrt(C)) V`` in ONNX Runtime; both hold the
    (HW x HW) affinity at once. Here the queries go in
    :attr:`QUERY_BLOCKS` blocks, each with its own rows of the affinity:
    the same maths (the softmax is per query) with 1/QUERY_BLOCKS of the
    affinity alive at a time.
    """

    QUERY_BLOCKS = 16

    def _attend_tokens(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        scale = q.shape[-1] ** -0.5
        keys = k.transpose(-2, -1)
        blocks = [
            torch.softmax(block @ keys * scale, dim=-1) @ v
            for block in q.tensor_split(self.QUERY_BLOCKS, dim=2)
        ]
        return torch.cat(blocks, dim=2)


# The module classes export_mode replaces, with their exportable forms.
EXPORTABLE_FORMS = {
    MultiScaleDeformableAttention: ExportableMSDeformAttn,
    MSDeformAttnPixelDecoder: ExportablePixelDecoder,
    ShiftWindowMSA: ExportableShiftWindowMSA,
    CoherenceFusionModule: ExportableCoherenceFusionModule,
}


@contextmanager
def export_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Switch ``model``'s non-exportable modules to their exportable forms.

    Inside the context every module of a class in :data:`EXPORTABLE_FORMS`
    has the exportable subclass instead (same parameters, no state added);
    on exit each gets its own class back, also after an error. The maths
    does not change (float64 tests in ``tests/test_deployment``).

    Yields:
        nn.Module: ``model`` itself.
    """
    switched = []
    try:
        for module in model.modules():
            form = EXPORTABLE_FORMS.get(type(module))
            if form is not None:
                switched.append((module, type(module)))
                module.__class__ = form
        yield model
    finally:
        for module, cls in switched:
            module.__class__ = cls
