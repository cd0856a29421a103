"""Deployment: MT-CP as one ONNX graph (``tools/deployment/``).

Importing this package needs neither onnx nor onnxruntime; exporting needs
onnx and onnxscript (``pip install -r requirements/deploy.txt``, or ``pip install mtcp[deploy]``).
"""

from .export_model import (
    ExportWrapper,
    check_exportable_pipeline,
    deploy_meta,
    export_onnx,
    output_names,
    padded_size,
    write_meta,
)
from .exportable import (
    ExportableCoherenceFusionModule,
    ExportableMSDeformAttn,
    ExportablePixelDecoder,
    ExportableShiftWindowMSA,
    deformable_sampling,
    export_mode,
)

__all__ = [
    "ExportWrapper",
    "ExportableCoherenceFusionModule",
    "ExportableMSDeformAttn",
    "ExportablePixelDecoder",
    "ExportableShiftWindowMSA",
    "check_exportable_pipeline",
    "deformable_sampling",
    "deploy_meta",
    "export_mode",
    "export_onnx",
    "output_names",
    "padded_size",
    "write_meta",
]
