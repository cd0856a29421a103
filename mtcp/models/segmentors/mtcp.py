"""The MT-CP multi-task model."""

from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig

from mtcp.structures import TASKS, MultiTaskDataSample, check_tasks

from ..weighting import TaskLosses
from . import mtcp_utils as utils


@MODELS.register_module()
class MTCP(BaseModel):
    """Multi-task dense prediction with coherence fusion and spatial refinement.

    The call graph (paper Sec. 3)::

        loss / predict
          extract_feats(inputs)
            backbone: F = SharedMask2Former(img)
            per task t: stages, fused = decoder_t(F)
            per task t: x = CFM_t(fused_t, [fused_j, j != t])   (use_cfm)
            per task t: SRMs trace x back through the stages,
                        coarsest first; their side outputs    (use_srm)
          loss:    heads[t].loss(feats_t, data_samples)      -> weighting
          predict: heads[t].predict(feats_t, img_metas)      -> data samples

    The intermediate heads ``aux_16`` and ``aux_8`` predict from the sides of
    SRM_1 and SRM_2, the final head (stride 4) from SRM_3's; without SRM the
    final head predicts from ``x``. Each head (:class:`TaskHead`) owns its
    task's loss and predictions; the model holds no per-task logic.

    Args:
        tasks (list[str]): Task names of :data:`mtcp.tasks.TASKS`.
        backbone (dict): Shared backbone config (``SharedMask2Former``).
        decoder (dict): Config of the per-task ``HierarchicalTaskDecoder``; one
            is built per task. Its ``in_channels`` is C.
        num_classes (dict, optional): Classes of the class-map tasks, e.g.
            ``dict(semseg=40, parts=7)``; entries for tasks that are not in
            ``tasks`` are ignored (shared dataset configs).
        cfm (dict, optional): Keyword arguments of
            :class:`CoherenceFusionModule` (``channels`` and ``num_aux`` are
            filled in), plus ``coherence_weight`` (default 1.0), the
            multiplier of the coherence losses, and optionally ``type``.
        srm (dict, optional): Keyword arguments of
            :class:`SpatialRefinementModule` (channels filled in).
        head (dict, optional): Keyword arguments of the task heads'
            :class:`DensePredictionHead` convs (channels filled in).
        head_bias_init (dict, optional): Initial bias of a task's prediction
            convs, e.g. ``dict(depth=2.5)``: depth heads start at a typical
            scene depth in metres. Tasks not named start at 0; known tasks
            the model does not have are ignored.
        losses (dict, optional): Per-task loss configs overriding the
            default loss of each task's kind.
        loss_with_cp (bool): Activation checkpointing of each head's loss
            with its upsampling (see :class:`TaskHead`). Default: False.
        use_cfm (bool): Fuse the tasks with CFMs. Ignored with a single task,
            which never has a CFM. Default: True.
        use_srm (bool): Trace back with SRMs and train intermediate heads.
            Default: True.
        weighting (dict, optional): Loss weighting config (e.g.
            ``dict(type='LPS')``); ``tasks`` is filled in. None sums the terms.
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``dict(type='MultiTaskDataPreProcessor')``.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(
        self,
        tasks: List[str],
        backbone: ConfigType,
        decoder: ConfigType,
        num_classes: Optional[Dict[str, int]] = None,
        cfm: OptConfigType = None,
        srm: OptConfigType = None,
        head: OptConfigType = None,
        head_bias_init: Optional[Dict[str, float]] = None,
        losses: Optional[Dict[str, ConfigType]] = None,
        loss_with_cp: bool = False,
        use_cfm: bool = True,
        use_srm: bool = True,
        weighting: OptConfigType = None,
        data_preprocessor: Union[ConfigType, nn.Module, None] = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(
            data_preprocessor=utils.build_preprocessor(data_preprocessor),
            init_cfg=init_cfg,
        )
        self.tasks = check_tasks(tasks, list(TASKS), "MTCP.tasks")
        self.use_cfm = use_cfm and len(self.tasks) > 1
        self.use_srm = use_srm
        self.loss_with_cp = loss_with_cp
        self.backbone = MODELS.build(backbone)
        self._init_decoders(decoder)
        self.coherence_weight, cfm = utils.split_cfm(cfm)
        if self.use_cfm:
            self._init_cfms(cfm)
        if use_srm:
            self._init_srms(srm)
        self._init_heads(num_classes or {}, head, head_bias_init, losses)
        self._init_weighting(weighting)

    def _init_decoders(self, decoder: ConfigType) -> None:
        """One decoder per task; the stage layout of the SRMs and heads."""
        self.decoders = nn.ModuleDict({t: MODELS.build(decoder) for t in self.tasks})
        first = self.decoders[self.tasks[0]]
        self.channels = first.in_channels
        # Stage i has stride 4 * 2**i; the SRMs go coarsest first.
        self.stage_channels = list(reversed(first.out_channels))
        strides = [4 * 2**i for i in reversed(range(len(self.stage_channels)))]
        self.head_names = [f"aux_{s}" for s in strides[:-1]] + ["final"]

    def _init_cfms(self, cfm: dict) -> None:
        """One ``CoherenceFusionModule`` per task."""
        cfg = dict(type="CoherenceFusionModule", **cfm)
        cfg.update(channels=self.channels, num_aux=len(self.tasks) - 1)
        self.cfms = nn.ModuleDict({t: MODELS.build(cfg) for t in self.tasks})

    def _init_srms(self, srm: OptConfigType) -> None:
        """Per task, one ``SpatialRefinementModule`` per stage, coarsest first;
        the last has no carry branch (nothing would use it)."""

        def one(i: int, stage_channels: int) -> nn.Module:
            cfg = dict(type="SpatialRefinementModule", **(srm or {}))
            cfg.update(
                in_channels=self.channels,
                stage_channels=stage_channels,
                out_channels=self.channels,
                with_carry=i < len(self.stage_channels) - 1,
            )
            return MODELS.build(cfg)

        self.srms = nn.ModuleDict(
            {
                t: nn.ModuleList(one(i, c) for i, c in enumerate(self.stage_channels))
                for t in self.tasks
            }
        )

    def _init_heads(
        self,
        num_classes: Dict[str, int],
        head: OptConfigType,
        head_bias_init: Optional[Dict[str, float]],
        losses: Optional[Dict[str, ConfigType]],
    ) -> None:
        """The :class:`TaskHead` of every task."""
        utils.check_task_keys(num_classes, "num_classes", self.tasks, classes=True)
        bias_init = utils.check_task_keys(head_bias_init, "head_bias_init", self.tasks)
        losses = utils.check_task_keys(losses, "losses", self.tasks, strict=True)
        self.heads = nn.ModuleDict(
            {
                t: MODELS.build(
                    dict(
                        type="TaskHead",
                        task=t,
                        in_channels=self.channels,
                        levels=self.head_names if self.use_srm else ["final"],
                        num_classes=num_classes.get(t),
                        loss_decode=losses.get(t),
                        conv_cfg=head,
                        bias_init=bias_init.get(t, 0.0),
                        loss_with_cp=self.loss_with_cp,
                    )
                )
                for t in self.tasks
            }
        )

    def _init_weighting(self, weighting: OptConfigType) -> None:
        """The loss weighting (None: the plain sum)."""
        self.weighting = None
        if weighting is not None:
            self.weighting = MODELS.build(
                dict(dict(tasks=list(self.tasks)), **weighting)
            )

    @property
    def out_channels(self) -> Dict[str, int]:
        """Predicted channels of each task."""
        return {t: self.heads[t].out_channels for t in self.tasks}

    def extract_feats(
        self, inputs: torch.Tensor
    ) -> Tuple[Dict[str, List[torch.Tensor]], Dict[str, torch.Tensor]]:
        """Run the network up to the heads on images (B, 3, H, W).

        Returns:
            tuple[dict, dict]: ``feats[task]``, one feature map per head
            level (``aux_16``, ``aux_8``, ``final``; only ``final`` without
            SRM), and ``coherence[task]`` the unweighted coherence loss
            (empty without CFM).
        """
        shared = self.backbone(inputs)
        decoded = {t: self.decoders[t](shared) for t in self.tasks}
        feats, coherence = {}, {}
        for t in self.tasks:
            stages, x = decoded[t]
            if self.use_cfm:
                aux = [decoded[j][1] for j in self.tasks if j != t]
                x, coherence[t] = self.cfms[t](x, aux)
            feats[t] = [x]
            if self.use_srm:
                feats[t] = []
                for srm, stage in zip(self.srms[t], reversed(stages)):
                    x, side = srm(x, stage)
                    feats[t].append(side)
        return feats, coherence

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[MultiTaskDataSample]] = None,
        mode: str = "tensor",
    ):
        """Dispatch to :meth:`loss`, :meth:`predict` or :meth:`_forward`."""
        if mode == "loss":
            return self.loss(inputs, data_samples)
        if mode == "predict":
            return self.predict(inputs, data_samples)
        if mode == "tensor":
            return self._forward(inputs, data_samples)
        raise ValueError(
            f"MTCP.forward: invalid mode {mode!r}; use 'loss', 'predict' or 'tensor'"
        )

    def _forward(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[MultiTaskDataSample]] = None,
    ) -> Dict[str, torch.Tensor]:
        """Return ``task -> raw final output`` at stride 4 (no activation)."""
        feats, _ = self.extract_feats(inputs)
        return {t: self.heads[t].forward_final(feats[t]) for t in self.tasks}

    def loss(
        self, inputs: torch.Tensor, data_samples: List[MultiTaskDataSample]
    ) -> TaskLosses:
        """Compute the training losses.

        Returns:
            TaskLosses: ``{task}.loss`` (final head), ``{task}.aux_16.loss``
            and ``{task}.aux_8.loss`` (intermediate heads, with SRM) and
            ``coherence.{task}`` (times ``coherence_weight``, with CFM);
            ``labelled[task]`` tells whether the batch had any labelled pixel
            of the task (partially labelled data).
        """
        if data_samples is None:
            raise ValueError("MTCP.loss needs data samples carrying the labels")
        feats, coherence = self.extract_feats(inputs)
        losses = TaskLosses({}, {})
        for t in self.tasks:
            head_losses = self.heads[t].loss(feats[t], data_samples)
            losses.update(head_losses)
            losses.labelled.update(head_losses.labelled)
        for t, value in coherence.items():
            losses[f"coherence.{t}"] = self.coherence_weight * value
        return losses

    def predict(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[MultiTaskDataSample]] = None,
    ) -> List[MultiTaskDataSample]:
        """Predict every task at the original image size.

        Each head crops the padding (``img_shape``), resizes to
        ``ori_shape`` and undoes a flip recorded in the meta, then activates.
        Without data samples the inputs are taken as unpadded, unresized
        images. Test-time augmentation wraps the model in
        :class:`MultiTaskTTAModel`.

        Returns:
            list[MultiTaskDataSample]: The samples with ``pred_<field>`` set
            for every task (and what its kind adds, e.g. a class map's
            ``<field>_logits``).
        """
        if data_samples is None:
            data_samples = utils.unresized_samples(inputs)
        feats, _ = self.extract_feats(inputs)
        metas = [sample.metainfo for sample in data_samples]
        for t in self.tasks:
            for sample, fields in zip(
                data_samples, self.heads[t].predict(feats[t], metas)
            ):
                for field, data in fields.items():
                    setattr(sample, field, PixelData(data=data))
        return data_samples

    def parse_losses(
        self, losses: Dict[str, torch.Tensor]
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Sum the loss terms, or hand them to ``self.weighting``.

        Returns:
            tuple[Tensor, dict]: The total loss and the detached log variables:
            ``loss`` (the total) and every term (plus what the weighting logs).
        """
        return utils.parse_task_losses(losses, self.weighting)
