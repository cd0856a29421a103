"""The registry of task kinds.

A task *kind* (class map, depth, normals, binary map, boundary, or a user's
own) is the unit a researcher adds: one class in one file, registered here
with ``@TASK_KINDS.register_module()``. The registry lives in mmseg's scope,
like every mtcp component, so a kind defined in the user's own package is
found after ``custom_imports=dict(imports=['mtcp', 'my_package.my_kind'])``.
"""

from mmengine.registry import Registry

TASK_KINDS = Registry("task kind", scope="mmseg", locations=["mtcp.tasks"])
