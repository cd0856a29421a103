from .balanced_bce_loss import BalancedBCELoss
from .cross_entropy_loss import TaskCrossEntropyLoss
from .depth_loss import DepthL1Loss
from .normals_loss import NormalsL1Loss

__all__ = ["BalancedBCELoss", "DepthL1Loss", "NormalsL1Loss", "TaskCrossEntropyLoss"]
