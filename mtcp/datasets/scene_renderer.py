"""Procedural indoor-like scenes rendered by vectorised ray casting.

The camera sits at the origin of a room (floor, ceiling, side and back walls
as planes) holding boxes, spheres and, optionally, a person-like figure built
from boxes and a sphere. Every ray finds its nearest surface; the image, the
semantic map, the z-depth, the surface normals, the person's parts and the
foreground (saliency) all come from that one hit, so they are geometrically
consistent. Coordinates: OpenCV camera frame (x right, y down, z forward);
normals are unit vectors in that frame facing the camera.
"""

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

NYUD_SCENE_CLASSES = ("wall", "floor", "ceiling", "box", "ball")
PASCAL_SCENE_CLASSES = ("background", "box", "ball", "person")


@dataclass
class _Primitive:
    shape: str  # 'plane', 'box' or 'sphere'
    params: tuple
    label: int
    part: int
    salient: bool
    color: np.ndarray
    texture: float  # world-space period of a checker pattern, 0 for none


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _hit_plane(dirs, normal, offset):
    # plane n . p = offset seen from the origin; only its front face counts
    denom = dirs @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = offset / denom
    t = np.where((denom < 0) & (t > 0), t, np.inf)
    return t, np.broadcast_to(normal, dirs.shape)


def _hit_box(dirs, centre, half, yaw):
    rot = _rot_y(yaw)
    origin = -centre @ rot  # R^T (0 - c)
    local = dirs @ rot  # R^T d for every ray
    local = np.where(np.abs(local) < 1e-12, 1e-12, local)
    t1 = (-half - origin) / local
    t2 = (half - origin) / local
    t_near = np.minimum(t1, t2)
    t_far = np.maximum(t1, t2).min(axis=1)
    axis = t_near.argmax(axis=1)
    t_enter = t_near.max(axis=1)
    hit = (t_enter <= t_far) & (t_enter > 0)
    normal_local = np.zeros_like(local)
    rows = np.arange(len(dirs))
    normal_local[rows, axis] = -np.sign(local[rows, axis])
    return np.where(hit, t_enter, np.inf), normal_local @ rot.T


def _hit_sphere(dirs, centre, radius):
    a = np.einsum("ij,ij->i", dirs, dirs)
    b = -2 * dirs @ centre
    c = centre @ centre - radius**2
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / (2 * a)
    t = np.where((disc >= 0) & (t > 0), t, np.inf)
    points = dirs * np.where(np.isfinite(t), t, 0)[:, None]
    return t, (points - centre) / radius


def _person(rng, floor_y, x, z, yaw, label) -> List[_Primitive]:
    scale = rng.uniform(0.85, 1.05)
    skin = rng.uniform(0.5, 1.0, 3)
    shirt, trousers = rng.uniform(0.1, 1.0, 3), rng.uniform(0.1, 0.6, 3)
    # (part, centre x, top and bottom height above the floor, half x, half z)
    limbs = [
        (6, -0.1, 0.45, 0.0, 0.06, 0.06, trousers),
        (6, 0.1, 0.45, 0.0, 0.06, 0.06, trousers),
        (5, -0.1, 0.9, 0.45, 0.08, 0.08, trousers),
        (5, 0.1, 0.9, 0.45, 0.08, 0.08, trousers),
        (2, 0.0, 1.45, 0.9, 0.18, 0.1, shirt),
        (3, -0.24, 1.45, 1.15, 0.05, 0.05, shirt),
        (3, 0.24, 1.45, 1.15, 0.05, 0.05, shirt),
        (4, -0.24, 1.15, 0.85, 0.045, 0.045, skin),
        (4, 0.24, 1.15, 0.85, 0.045, 0.045, skin),
    ]
    rot = _rot_y(yaw)
    base = np.array([x, floor_y, z])
    prims = []
    for part, cx, top, bottom, hx, hz, color in limbs:
        offset = rot @ np.array([cx, -(top + bottom) / 2, 0.0]) * scale
        half = np.array([hx, (top - bottom) / 2, hz]) * scale
        prims.append(
            _Primitive("box", (base + offset, half, yaw), label, part, True, color, 0)
        )
    head = base + np.array([0.0, -1.58, 0.0]) * scale
    prims.append(_Primitive("sphere", (head, 0.12 * scale), label, 1, True, skin, 0))
    return prims


def render_scene(
    rng: np.random.Generator, height: int, width: int, task_set: str
) -> Dict[str, np.ndarray]:
    """Render one random scene.

    Args:
        rng (np.random.Generator): Source of every random choice.
        height (int): Image height.
        width (int): Image width.
        task_set (str): 'nyud' (classes :data:`NYUD_SCENE_CLASSES`) or
            'pascal' (classes :data:`PASCAL_SCENE_CLASSES`, a person with
            probability 0.75).

    Returns:
        dict: ``img`` (H, W, 3) uint8 BGR, ``semseg`` (H, W) uint8,
        ``depth`` (H, W) float32 z-depth in metres, ``normals`` (H, W, 3)
        float32, ``parts`` (H, W) uint8 (0 background, 1..6 parts; all 255
        without a person), ``saliency`` (H, W) uint8 0/1 (foreground objects),
        ``edge`` (H, W) uint8 0/1 (boundaries between surfaces).
    """
    if task_set not in ("nyud", "pascal"):
        raise ValueError(f"task_set must be 'nyud' or 'pascal', got {task_set!r}")
    nyud = task_set == "nyud"
    wall, floor, ceiling, box, ball = (0, 1, 2, 3, 4) if nyud else (0, 0, 0, 1, 2)
    person = 3

    focal = width * rng.uniform(0.8, 1.1)
    pitch = rng.uniform(-0.15, 0.1)
    cam_h = rng.uniform(1.1, 1.6)
    room_h = cam_h + rng.uniform(1.0, 1.6)
    left, right, back = rng.uniform(1.5, 3.0), rng.uniform(1.5, 3.0), rng.uniform(4, 6)

    def color():
        return rng.uniform(0.15, 1.0, 3)

    prims = [
        _Primitive("plane", (np.array([0, -1.0, 0]), -cam_h), floor, 0, False,
                   color(), rng.uniform(0.3, 0.8)),
        _Primitive("plane", (np.array([0, 1.0, 0]), room_h - cam_h), ceiling, 0,
                   False, color(), 0),
        _Primitive("plane", (np.array([1.0, 0, 0]), left), wall, 0, False,
                   color(), 0),
        _Primitive("plane", (np.array([-1.0, 0, 0]), right), wall, 0, False,
                   color(), 0),
        _Primitive("plane", (np.array([0, 0, -1.0]), -back), wall, 0, False,
                   color(), rng.choice([0, 1.0])),
    ]  # fmt: skip
    half_fov = 0.5 * width / focal
    for _ in range(rng.integers(1, 4) if not nyud else rng.integers(2, 6)):
        z = rng.uniform(1.8, back - 0.6)
        x = rng.uniform(-0.7, 0.7) * z * half_fov
        if rng.random() < 0.5:
            half = rng.uniform([0.15, 0.1, 0.15], [0.6, 0.7, 0.5])
            centre = np.array([x, cam_h - half[1], z])
            prims.append(
                _Primitive(
                    "box",
                    (centre, half, rng.uniform(0, np.pi)),
                    box,
                    0,
                    True,
                    color(),
                    rng.choice([0, 0.25]),
                )
            )
        else:
            radius = rng.uniform(0.15, 0.45)
            centre = np.array([x, cam_h - radius, z])
            prims.append(_Primitive("sphere", (centre, radius), ball, 0, True,
                                    color(), 0))  # fmt: skip
    has_person = not nyud and rng.random() < 0.75
    if has_person:
        z = rng.uniform(2.0, back - 0.8)
        x = rng.uniform(-0.5, 0.5) * z * half_fov
        prims += _person(rng, cam_h, x, z, rng.uniform(-0.8, 0.8), person)

    v, u = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    dirs_cam = np.stack(
        [(u - width / 2) / focal, (v - height / 2) / focal, np.ones_like(u)], -1
    ).reshape(-1, 3)
    cam_to_world = _rot_x(pitch)
    dirs = dirs_cam @ cam_to_world.T  # z-depth stays the ray parameter t

    n_rays = len(dirs)
    best_t = np.full(n_rays, np.inf)
    best_id = np.zeros(n_rays, dtype=np.int64)
    best_normal = np.zeros((n_rays, 3))
    for index, prim in enumerate(prims):
        if prim.shape == "plane":
            t, normal = _hit_plane(dirs, *prim.params)
        elif prim.shape == "box":
            t, normal = _hit_box(dirs, *prim.params)
        else:
            t, normal = _hit_sphere(dirs, *prim.params)
        closer = t < best_t
        best_t = np.where(closer, t, best_t)
        best_id = np.where(closer, index, best_id)
        best_normal = np.where(closer[:, None], normal, best_normal)
    if not np.isfinite(best_t).all():
        raise RuntimeError("a ray left the closed room; the scene is malformed")

    labels = np.array([p.label for p in prims], dtype=np.uint8)[best_id]
    parts = np.array([p.part for p in prims], dtype=np.uint8)[best_id]
    salient = np.array([p.salient for p in prims], dtype=np.uint8)[best_id]
    colors = np.stack([p.color for p in prims])[best_id]
    periods = np.array([p.texture for p in prims])[best_id]

    points = dirs * best_t[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        cells = np.floor(points / np.where(periods > 0, periods, 1)[:, None])
    checker = np.where(periods > 0, 0.75 + 0.25 * (cells.sum(1) % 2), 1.0)
    light = np.array([0.4, 1.0, 0.5]) @ _rot_y(rng.uniform(-1, 1)).T
    light /= np.linalg.norm(light)
    shade = 0.45 + 0.55 * np.clip(-(best_normal @ light), 0, 1)
    falloff = 1.0 / (1.0 + 0.04 * best_t**2)
    rgb = colors * (checker * shade * falloff)[:, None] * 255
    rgb += rng.normal(0, 3.0, rgb.shape)

    normals_cam = best_normal @ cam_to_world  # world -> camera is R^T
    ids = best_id.reshape(height, width)
    edge = np.zeros((height, width), dtype=np.uint8)
    edge[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    edge[:-1] |= ids[:-1] != ids[1:]
    parts = parts.reshape(height, width)
    return dict(
        img=np.clip(rgb, 0, 255)
        .astype(np.uint8)
        .reshape(height, width, 3)[..., ::-1]
        .copy(),
        semseg=labels.reshape(height, width),
        depth=best_t.reshape(height, width).astype(np.float32),
        normals=normals_cam.reshape(height, width, 3).astype(np.float32),
        parts=parts if has_person else np.full_like(parts, 255),
        saliency=salient.reshape(height, width),
        edge=edge,
    )
