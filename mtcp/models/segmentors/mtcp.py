"""The MT-CP multi-task model."""

from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig

from mtcp.structures import TASKS, MultiTaskDataSample, check_tasks

from ..weighting import TaskLosses
from . import mtcp_utils as utils


@MODELS.register_module()
class MTCP(BaseModel):
    """Multi-task dense prediction with coherence fusion and spatial refinement.

    ``F = backbone(img)``; for every task ``t``: ``stages, fused =
    decoder_t(F)``; ``x = CFM_t(fused_t, [fused_j, j != t])`` (or
    ``fused_t`` without CFM); the SRMs trace ``x`` back through the stages,
    coarsest first, and a head predicts from each SRM's side output: the
    intermediate heads ``aux_16`` and ``aux_8`` and the final head (stride
    4). Without SRM the final head predicts from ``x``.

    Args:
        tasks (list[str]): Task names of :data:`mtcp.structures.TASKS`.
        backbone (dict): Shared backbone config (``SharedMask2Former``).
        decoder (dict): Config of the per-task ``HierarchicalTaskDecoder``; one
            is built per task. Its ``in_channels`` is C.
        num_classes (dict, optional): Classes of the class-map tasks, e.g.
            ``dict(semseg=40, parts=7)``; entries for class tasks that are not
            in ``tasks`` are ignored (shared dataset configs).
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
        losses (dict, optional): Per-task loss configs overriding
            :data:`DEFAULT_LOSSES`.
        loss_with_cp (bool): Activation checkpointing of each head's loss
            with its upsampling (see :class:`BaseTaskHead`). Default: False.
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
        self.out_channels = utils.task_channels(self.tasks, num_classes or {})
        self.use_cfm = use_cfm and len(self.tasks) > 1
        self.use_srm = use_srm
        self.loss_with_cp = loss_with_cp
        head_bias_init = utils.check_head_bias_init(head_bias_init)
        self.backbone = MODELS.build(backbone)
        self.decoders = nn.ModuleDict({t: MODELS.build(decoder) for t in self.tasks})
        first = self.decoders[self.tasks[0]]
        channels = first.in_channels
        # Stage i has stride 4 * 2**i; the SRMs go coarsest first.
        stage_channels = list(reversed(first.out_channels))
        strides = [4 * 2**i for i in reversed(range(len(stage_channels)))]
        self.head_names = [f"aux_{s}" for s in strides[:-1]] + ["final"]

        self.coherence_weight, cfm = utils.split_cfm(cfm)
        if self.use_cfm:
            self.cfms = utils.build_cfms(self.tasks, channels, cfm)
        if use_srm:
            self.srms = utils.build_srms(self.tasks, channels, stage_channels, srm)
        self.heads = utils.build_heads(
            self.out_channels,
            channels,
            self.head_names if use_srm else ["final"],
            losses=utils.loss_cfgs(self.tasks, losses),
            conv_cfg=head,
            bias_init=head_bias_init,
            loss_with_cp=loss_with_cp,
        )
        self.weighting = None
        if weighting is not None:
            self.weighting = MODELS.build(
                dict(dict(tasks=list(self.tasks)), **weighting)
            )

    def forward_tasks(
        self, inputs: torch.Tensor
    ) -> Tuple[Dict[str, Dict[str, torch.Tensor]], Dict[str, torch.Tensor]]:
        """Run the network on images (B, 3, H, W).

        Returns:
            tuple[dict, dict]: ``outputs[task][name]`` the raw prediction of
            head ``name`` (``'aux_16'``, ``'aux_8'``, ``'final'``) at the
            head's resolution, and ``coherence[task]`` the unweighted
            coherence loss (empty without CFM).
        """
        shared = self.backbone(inputs)
        decoded = {t: self.decoders[t](shared) for t in self.tasks}
        outputs, coherence = {}, {}
        for t in self.tasks:
            stages, x = decoded[t]
            if self.use_cfm:
                aux = [decoded[j][1] for j in self.tasks if j != t]
                x, coherence[t] = self.cfms[t](x, aux)
            feats = [x]
            if self.use_srm:
                feats = []
                for srm, stage in zip(self.srms[t], reversed(stages)):
                    x, side = srm(x, stage)
                    feats.append(side)
            outputs[t] = self.heads[t](feats)
        return outputs, coherence

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
        outputs, _ = self.forward_tasks(inputs)
        return {t: outputs[t]["final"] for t in self.tasks}

    def loss(
        self, inputs: torch.Tensor, data_samples: List[MultiTaskDataSample]
    ) -> Dict[str, torch.Tensor]:
        """Compute the training losses.

        Returns:
            dict[str, Tensor]: ``{task}.loss`` (final head), ``{task}.aux_16.loss``
            and ``{task}.aux_8.loss`` (intermediate heads, with SRM) and
            ``coherence.{task}`` (times ``coherence_weight``, with CFM), as a
            :class:`TaskLosses` whose ``labelled[task]`` tells whether the
            batch had any labelled pixel of the task (partially labelled
            data); a task without one has exact zero losses.
        """
        if data_samples is None:
            raise ValueError("MTCP.loss needs data samples carrying the labels")
        outputs, coherence = self.forward_tasks(inputs)
        losses, labelled = {}, {}
        for t in self.tasks:
            gt = utils.stack_labels(t, data_samples, self.tasks).to(inputs.device)
            labelled[t] = self.heads[t].labelled(gt).any()
            losses.update(self.heads[t].loss_by_feat(outputs[t], gt, t))
        for t, value in coherence.items():
            losses[f"coherence.{t}"] = self.coherence_weight * value
        return TaskLosses(losses, labelled)

    def predict(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[MultiTaskDataSample]] = None,
    ) -> List[MultiTaskDataSample]:
        """Predict every task at the original image size.

        Padding is cropped (``img_shape``), the result resized to
        ``ori_shape`` and a flip recorded in the meta undone (normals: the x
        component, or y for vertical flips, changes sign). Without data
        samples the inputs are taken as unpadded, unresized images.

        Test-time augmentation wraps the model in
        :class:`MultiTaskTTAModel`, which merges the predictions of each
        image's views.

        Returns:
            list[MultiTaskDataSample]: The samples with ``pred_<field>`` set
            (each head's ``add_pred``): classes (1, H, W) int64 with their
            logits ``<field>_logits`` (C, H, W), depth (1, H, W) >= 0,
            normals (3, H, W) unit vectors, saliency / edge (1, H, W)
            probabilities.
        """
        if data_samples is None:
            data_samples = utils.unresized_samples(inputs)
        finals = self._forward(inputs)
        for i, sample in enumerate(data_samples):
            for t in self.tasks:
                self.heads[t].add_pred(
                    sample, TASKS[t], finals[t][i : i + 1], sample.metainfo
                )
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
