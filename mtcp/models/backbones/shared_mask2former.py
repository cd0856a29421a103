"""The shared backbone of MT-CP: a Mask2Former whose query masks weight its
pixel embeddings (paper Sec. 3.2)."""

import os.path as osp
from contextlib import nullcontext
from functools import partial
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.models.layers.transformer.mask2former_layers import (
    Mask2FormerTransformerEncoder,
)
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType
from torch import Tensor

from ...utils.strict_loading import refuse_unfitting_pretrained
from ..utils import checkpoint
from .mask2former_configs import (
    ARCHS,
    MASK2FORMER_SWIN_S_ADE20K_URL,
    arch_configs,
    merge_cfg,
)

MASK_ACTS = ("sigmoid", None)
MASK_LAYERS = ("last", "all")


class CheckpointedPixelDecoderEncoder(Mask2FormerTransformerEncoder):
    """mmdet's pixel-decoder encoder with each layer checkpointed.

    Nested in the checkpoint of the whole pixel decoder, it keeps the
    recomputation in the backward to one encoder layer at a time (the
    deformable attention's sampled values of every layer would otherwise
    be held at once). Same parameters, buffers and maths as its parent.
    """

    def forward(self, query: Tensor, **kwargs) -> Tensor:
        for layer in self.layers:
            query = checkpoint(partial(layer, **kwargs), query, modules=[layer])
        return query


@MODELS.register_module()
class SharedMask2Former(BaseModule):
    """Mask2Former (Swin + Mask2FormerHead) as the shared MT-CP backbone.

    The pixel decoder gives the pixel embeddings ``E`` (B, C, H/4, W/4); the
    transformer decoder gives per-layer mask logits ``M_l`` (B, Q, H/4, W/4).
    The shared representation is ``F = E * sum_q act(M_q)``, computed as a
    broadcast product so no (B, Q, C, H/4, W/4) tensor is ever formed.

    The submodules are named ``backbone`` and ``decode_head`` like mmseg's
    ``EncoderDecoder``, so an mmseg Mask2Former checkpoint loads with
    ``init_cfg=dict(type='Pretrained', checkpoint=path)`` and no remapping.

    Args:
        backbone (dict, optional): mmseg ``SwinTransformer`` config, e.g.
            ``arch_configs('swin-s')[0]``; with ``arch``, only the fields that differ from
            the preset (e.g. ``dict(with_cp=True)``).
        decode_head (dict, optional): mmseg ``Mask2FormerHead`` config, e.g.
            ``arch_configs('swin-s')[1]``; with ``arch``, the fields that
            differ. Its ``out_channels`` is C.
        arch (str, optional): a preset of both configs: ``'swin-s'`` (mmseg's
            ``mask2former_swin-s_8xb2-160k_ade20k-512x512.py``, C = 256) or
            ``'tiny'`` (tests and the CPU demo, C = 32). None: ``backbone``
            and ``decode_head`` are complete configs. Defaults to None.
        mask_act (str, optional): activation of the mask logits before the
            sum over queries: ``'sigmoid'`` or ``None`` (raw logits, as the
            reference code). Defaults to ``'sigmoid'``.
        mask_layers (str): which transformer decoder layers give the masks.
            ``'last'``: the last layer's ``M_L``. ``'all'``: the mean of
            ``act(M_l)`` over the L decoder layers (the paper's wording); the
            prediction made from the learned queries before the first layer
            is not one of them. Defaults to ``'last'``.
        return_tuple (bool): return ``(F,)`` instead of ``F``, the way mmseg
            backbones hand their feature maps to a decode head, so that
            mmseg's ``EncoderDecoder`` with any mmseg head (``in_index=0``)
            can sit on the shared representation. Defaults to False.
        pixel_decoder_with_cp (bool | str): activation checkpointing of the
            pixel decoder. ``'layers'``: each encoder layer (its deformable
            attention and FFN), the rest keeps its activations; True: the
            whole pixel decoder as well, with each encoder layer checkpointed
            within (so one layer's activations at a time; the encoder runs
            three times). Checkpointing of the Swin blocks is the
            ``backbone``'s own ``with_cp``. Defaults to False.
        transformer_decoder_with_cp (bool): activation checkpointing of each
            transformer decoder layer with its mask prediction. Defaults to
            False.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...)``
            loads a whole mmseg Mask2Former checkpoint (see
            :data:`MASK2FORMER_SWIN_S_ADE20K_URL`). Defaults to None.
    """

    def __init__(
        self,
        backbone: OptConfigType = None,
        decode_head: OptConfigType = None,
        arch: Optional[str] = None,
        mask_act: Optional[str] = "sigmoid",
        mask_layers: str = "last",
        return_tuple: bool = False,
        pixel_decoder_with_cp: Union[bool, str] = False,
        transformer_decoder_with_cp: bool = False,
        init_cfg: OptConfigType = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch is not None:
            preset_backbone, preset_head = arch_configs(arch)
            backbone = merge_cfg(preset_backbone, backbone or {})
            decode_head = merge_cfg(preset_head, decode_head or {})
        elif backbone is None or decode_head is None:
            raise ValueError(
                "SharedMask2Former: without `arch`, both `backbone` (a "
                "SwinTransformer config) and `decode_head` (a Mask2FormerHead "
                f"config) are needed; arch presets are {sorted(ARCHS)}"
            )
        if mask_act not in MASK_ACTS:
            raise ValueError(
                f"SharedMask2Former: mask_act must be one of {MASK_ACTS}, "
                f"got {mask_act!r}"
            )
        if mask_layers not in MASK_LAYERS:
            raise ValueError(
                f"SharedMask2Former: mask_layers must be one of {MASK_LAYERS}, "
                f"got {mask_layers!r}"
            )
        if init_cfg is not None and init_cfg.get("type") == "Pretrained":
            if not init_cfg.get("checkpoint"):
                raise ValueError(
                    "SharedMask2Former: init_cfg of type 'Pretrained' needs a "
                    f"'checkpoint' path, got {init_cfg!r}"
                )
        if pixel_decoder_with_cp not in (True, False, "layers"):
            raise ValueError(
                "SharedMask2Former: pixel_decoder_with_cp must be True, False or "
                f"'layers', got {pixel_decoder_with_cp!r}"
            )
        self.mask_act = mask_act
        self.mask_layers = mask_layers
        self.return_tuple = return_tuple
        self.pixel_decoder_with_cp = pixel_decoder_with_cp
        self.transformer_decoder_with_cp = transformer_decoder_with_cp
        self.backbone = MODELS.build(backbone)
        # mmdet's head reads its nested cfgs by attribute: plain dicts (such as
        # this module's defaults) must become ConfigDicts.
        self.decode_head = MODELS.build(ConfigDict(decode_head))
        self.out_channels = decode_head["out_channels"]
        if pixel_decoder_with_cp:
            # Only `forward` differs (no state), so the built encoder changes
            # class in place: its parameters, their initialisation and the
            # checkpoint keys stay.
            encoder = self.decode_head.pixel_decoder.encoder
            encoder.__class__ = CheckpointedPixelDecoderEncoder
        # The ADE20K class embedding is never used: freezing it lets DDP run
        # without find_unused_parameters.
        self.decode_head.cls_embed.requires_grad_(False)

    def forward(self, inputs: Tensor) -> Union[Tensor, Tuple[Tensor]]:
        """Compute the shared representation.

        Args:
            inputs (Tensor): images (B, 3, H, W).

        Returns:
            Tensor | tuple[Tensor]: ``F = E * sum_q act(M_q)`` of shape
            (B, C, H/4, W/4) (ceil when H or W is not a multiple of 4: Swin
            pads its input); ``(F,)`` when ``return_tuple``.
        """
        mask_features, mask_logits = self.forward_masks(inputs)
        if self.mask_layers == "last":
            masks = self._activate(mask_logits[-1]).sum(1, keepdim=True)
        else:
            masks = torch.stack(
                [self._activate(m).sum(1, keepdim=True) for m in mask_logits]
            ).mean(0)
        shared = mask_features * masks
        return (shared,) if self.return_tuple else shared

    def forward_masks(self, inputs: Tensor) -> Tuple[Tensor, List[Tensor]]:
        """Run Swin, the pixel decoder and the transformer decoder.

        This is the query flow of mmdet's ``Mask2FormerHead.forward`` without
        the class logits.

        Args:
            inputs (Tensor): images (B, 3, H, W).

        Returns:
            tuple: the mask features ``E`` (B, C, H/4, W/4) and the mask
            logits (B, Q, H/4, W/4) after each of the L decoder layers
            (``mask_layers='last'`` keeps only the last one).
        """
        if inputs.dim() != 4 or inputs.shape[1] != 3:
            raise ValueError(
                "SharedMask2Former expects images of shape (B, 3, H, W), got "
                f"{tuple(inputs.shape)}"
            )
        head = self.decode_head
        mask_features, memories = checkpoint(
            self._pixel_decoder,
            *self.backbone(inputs),
            enabled=self.pixel_decoder_with_cp is True,
            modules=[head.pixel_decoder],
        )
        batch_size = inputs.shape[0]
        keys, key_pos = [], []
        for level, memory in enumerate(memories):
            key = head.decoder_input_projs[level](memory).flatten(2).transpose(1, 2)
            keys.append(key + head.level_embed.weight[level].view(1, 1, -1))
            no_padding = memory.new_zeros(
                (batch_size,) + memory.shape[-2:], dtype=torch.bool
            )
            pos = head.decoder_positional_encoding(no_padding)
            key_pos.append(pos.flatten(2).transpose(1, 2))
        query = head.query_feat.weight.unsqueeze(0).repeat(batch_size, 1, 1)
        query_pos = head.query_embed.weight.unsqueeze(0).repeat(batch_size, 1, 1)

        num_levels = head.num_transformer_feat_level
        num_layers = head.num_transformer_decoder_layers
        _, attn_mask = self._mask_head(query, mask_features, memories[0].shape[-2:])
        mask_logits = []
        for i in range(num_layers):
            level = i % num_levels
            last = i == num_layers - 1
            next_size = None if last else memories[(i + 1) % num_levels].shape[-2:]
            query, logits, attn_mask = checkpoint(
                partial(self._decoder_layer, i, next_size),
                query,
                keys[level],
                key_pos[level],
                query_pos,
                attn_mask,
                mask_features,
                enabled=self.transformer_decoder_with_cp,
                modules=[head.transformer_decoder.layers[i]],
            )
            if self.mask_layers == "all" or last:
                mask_logits.append(logits)
        return mask_features, mask_logits

    def _pixel_decoder(self, *feats: Tensor) -> Tuple[Tensor, List[Tensor]]:
        mask_features, memories = self.decode_head.pixel_decoder(list(feats))
        return mask_features, memories

    def _decoder_layer(
        self,
        index: int,
        next_size: Optional[Tuple[int]],
        query: Tensor,
        key: Tensor,
        key_pos: Tensor,
        query_pos: Tensor,
        attn_mask: Tensor,
        mask_features: Tensor,
    ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Decoder layer ``index`` and its mask head: the new query, its mask
        logits and the attention mask of the next layer."""
        head = self.decode_head
        # A query whose mask covers no key would attend to nothing and
        # give NaNs: let it attend everywhere, as mmdet does.
        attn_mask = attn_mask & (attn_mask.sum(-1) != attn_mask.shape[-1])[..., None]
        query = head.transformer_decoder.layers[index](
            query=query,
            key=key,
            value=key,
            query_pos=query_pos,
            key_pos=key_pos,
            cross_attn_mask=attn_mask,
            query_key_padding_mask=None,
            key_padding_mask=None,
        )
        logits, next_mask = self._mask_head(query, mask_features, next_size)
        return query, logits, next_mask

    def _mask_head(
        self, query: Tensor, mask_features: Tensor, attn_size: Optional[Tuple[int]]
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """mmdet's ``Mask2FormerHead._forward_head`` without the class logits.

        Returns the mask logits (B, Q, h, w) and the boolean cross-attention
        mask (B * heads, Q, h' * w') for the next layer (None when
        ``attn_size`` is None).
        """
        head = self.decode_head
        mask_embed = head.mask_embed(head.transformer_decoder.post_norm(query))
        logits = torch.einsum("bqc,bchw->bqhw", mask_embed, mask_features)
        if attn_size is None:
            return logits, None
        attn_mask = F.interpolate(
            logits, attn_size, mode="bilinear", align_corners=False
        )
        attn_mask = attn_mask.flatten(2).repeat_interleave(head.num_heads, dim=0)
        return logits, (attn_mask.sigmoid() < 0.5).detach()

    def _activate(self, mask_logits: Tensor) -> Tensor:
        if self.mask_act == "sigmoid":
            return mask_logits.sigmoid()
        return mask_logits

    def init_weights(self) -> None:
        """Initialise; a ``Pretrained`` init_cfg then loads its checkpoint
        through mmengine's ``PretrainedInit`` (missing and unexpected keys
        are logged by name; a URL is downloaded and cached).

        Raises:
            FileNotFoundError: the checkpoint is a local path that does not
                exist, or a URL that cannot be downloaded.
            CheckpointError: no weight of the checkpoint matches this model,
                or one has another shape.
        """
        init_cfg = self.init_cfg
        fit_check = nullcontext()
        if init_cfg is not None and init_cfg.get("type") == "Pretrained":
            checkpoint = init_cfg["checkpoint"]
            if "://" not in checkpoint and not osp.isfile(checkpoint):
                raise FileNotFoundError(
                    f"SharedMask2Former: checkpoint {checkpoint!r} does not exist. "
                    f"Download {MASK2FORMER_SWIN_S_ADE20K_URL} and set "
                    "init_cfg.checkpoint of the SharedMask2Former config "
                    "(model.backbone.init_cfg.checkpoint in the MT-CP configs) to "
                    "its path, or to the URL."
                )
            fit_check = refuse_unfitting_pretrained(self, checkpoint)
        with fit_check:
            super().init_weights()
