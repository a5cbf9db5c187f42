"""Kinematic leg-raise simulator with ground truth.

A two-segment body (pelvis + thigh) performs lying or hanging leg raises.  The motion is
defined by three angle signals, all rotations about the segments' right (flexion) axis:

* ``hip(t)`` — hip flexion, thigh relative to pelvis (truth);
* ``curl(t)`` — the pelvis's own rotation (posterior positive);
* ``swing(t)`` — whole-body pendulum swing about the bar (hanging only).

Pelvic tilt (truth, global frame, GUIDE section 3) is ``curl + swing``.  Small
out-of-plane motions (pelvic obliquity/rotation, hip abduction/rotation) are added so the
estimator is not fed a perfectly planar movement.  Sensor signals follow physically from
the segment poses: angular rate in the sensor frame from the rotation history, specific
force ``R_ws^T (a - g)`` from the second derivative of the sensor's position.  Then they are
corrupted like real sensors: strap misalignment, soft-tissue wobble, bias, scale error,
white noise, int16 quantisation, clock drift, packet loss, a disconnect, different rates
per sensor.

All maths in SI units and radians; degrees only in options and truth files.
"""

from imu_pipeline.simulate.motion import Knots, RepPlan
from imu_pipeline.simulate.options import (
                                          MOMENTUM_KINDS,
                                          PLACEMENTS,
                                          POSE_MATRIX,
                                          POSES,
                                          REP_KINDS,
                                          SWING_TRUTH_DEG,
                                          SimulationOptions,
)
from imu_pipeline.simulate.session import (
                                          SimResult,
                                          load_truth,
                                          simulate_session,
                                          truth_paths,
                                          write_simulation,
)

__all__ = [
                                          "MOMENTUM_KINDS",
                                          "PLACEMENTS",
                                          "POSES",
                                          "POSE_MATRIX",
                                          "REP_KINDS",
                                          "SWING_TRUTH_DEG",
                                          "Knots",
                                          "RepPlan",
                                          "SimResult",
                                          "SimulationOptions",
                                          "load_truth",
                                          "simulate_session",
                                          "truth_paths",
                                          "write_simulation",
]
