"""Anatomical frames, mounting declarations and small rotation helpers.

Segment frame (both the pelvis and the thigh), after the ISB convention:

* ``X`` — anterior
* ``Y`` — superior (along the segment's long axis, towards the head)
* ``Z`` — right (the flexion axis)

A positive rotation about ``+Z`` moves ``X`` towards ``Y``.  For the thigh this is hip
flexion (the knee moves anteriorly/up); for the pelvis it is **posterior** tilt (the pubis
moves towards the ribs).  Both angles of the product are therefore rotations about the
segment's ``Z`` axis, in the same rotational sense.

World frame: ``z`` up; gravity is ``(0, 0, -9.81)`` m/s².

A *mounting* says where the sensor's printed ``x`` and ``y`` axes point on the segment, in
anatomical words (``superior``, ``inferior``, ``anterior``, ``posterior``, ``left``,
``right``); the sensor ``z`` follows by the right-hand rule.  It is turned into the matrix
``R_seg_sensor`` with ``v_segment = R_seg_sensor @ v_sensor``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from imu_pipeline.errors import MountingError

GRAVITY_M_S2 = 9.81

#: Unit vectors of the anatomical direction words, in the segment frame.
DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "anterior": (1.0, 0.0, 0.0),
    "posterior": (-1.0, 0.0, 0.0),
    "superior": (0.0, 1.0, 0.0),
    "inferior": (0.0, -1.0, 0.0),
    "right": (0.0, 0.0, 1.0),
    "left": (0.0, 0.0, -1.0),
}




def mounting_matrix(mounting: Mapping[str, str], where: str = "mounting") -> np.ndarray:
    """Rotation ``R_seg_sensor`` (3x3) from a mounting declaration.

    Parameters
    ----------
    mounting
        ``{"x": WORD, "y": WORD}`` where WORD is one of :data:`DIRECTIONS`.
    where
        Name of the field, used in error messages (e.g. ``"rec.json: sensors.thigh.mounting"``).

    Returns
    -------
    numpy.ndarray
        Matrix whose columns are the sensor x, y, z axes expressed in the segment frame.
    """
    if not isinstance(mounting, Mapping):
        raise MountingError(f"{where}: expected a table like {{x = \"superior\", y = \"right\"}}, got {mounting!r}")
    axes = []
    for key in ("x", "y"):
        word = mounting.get(key)
        if word is None:
            raise MountingError(f"{where}: missing '{key}' (where the sensor's {key} axis points: one of {', '.join(DIRECTIONS)})")
        word_n = str(word).strip().lower()
        if word_n not in DIRECTIONS:
            raise MountingError(f"{where}.{key}: unknown direction {word!r}; expected one of {', '.join(DIRECTIONS)}")
        axes.append(np.array(DIRECTIONS[word_n]))
    extra = set(mounting) - {"x", "y", "z"}
    if extra:
        raise MountingError(f"{where}: unknown key(s) {sorted(extra)}; only 'x' and 'y' are needed (z follows by the right-hand rule)")
    x, y = axes
    if abs(float(x @ y)) > 0.5:
        raise MountingError(
            f"{where}: x={mounting['x']!r} and y={mounting['y']!r} are not perpendicular; "
            "the two printed axes of a sensor are always at right angles"
        )
    z = np.cross(x, y)
    if "z" in mounting:
        zw = str(mounting["z"]).strip().lower()
        if zw not in DIRECTIONS or not np.allclose(DIRECTIONS[zw], z):
            raise MountingError(
                f"{where}.z: {mounting['z']!r} contradicts x and y (right-hand rule gives "
                f"{direction_word(z)}); leave z out or fix x/y"
            )
    return np.column_stack([x, y, z])


def direction_word(v: np.ndarray) -> str:
    """The anatomical word closest to a segment-frame unit vector."""
    best = max(DIRECTIONS, key=lambda w: float(np.dot(DIRECTIONS[w], v)))
    return best


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def axis_angle_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation about a unit ``axis`` by ``angle`` (rad)."""
    axis = np.asarray(axis, dtype=float)
    n = np.linalg.norm(axis)
    if n == 0:
        return np.eye(3)
    k = axis / n
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * (K @ K)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (N, 3, 3) from quaternions ``[w, x, y, z]`` (N, 4)."""
    q = np.asarray(q, dtype=float)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    R = np.empty(q.shape[:-1] + (3, 3))
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 0, 1] = 2 * (x * y - w * z)
    R[..., 0, 2] = 2 * (x * z + w * y)
    R[..., 1, 0] = 2 * (x * y + w * z)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 1, 2] = 2 * (y * z - w * x)
    R[..., 2, 0] = 2 * (x * z - w * y)
    R[..., 2, 1] = 2 * (y * z + w * x)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def up_in_sensor_frame(quat_wxyz: np.ndarray) -> np.ndarray:
    """Unit 'up' direction (opposite to gravity) in the sensor frame, (N, 3).

    ``quat_wxyz`` rotates sensor-frame vectors into an earth frame whose z axis is up
    (VQF's convention); the up vector in the sensor frame is the third row of that rotation.
    """
    q = np.asarray(quat_wxyz, dtype=float)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)
