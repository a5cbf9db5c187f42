"""Rep analysis: segment reps (:mod:`.segmenter`), measure each (:mod:`.measures`), judge it
(:mod:`.rules`), assemble the verdict (:mod:`.assess`); smoothness (:mod:`.smoothness`)."""

from imu_pipeline.reps.assess import (
           Rep,
           analyze_reps,
           assess_rep,
           rep_totals,
           window_from_angles,
)
from imu_pipeline.reps.rules import LABEL_ABDOMINAL, LABEL_HIP_FLEXOR
from imu_pipeline.reps.segmenter import RepBounds, RepSegmenter

__all__ = ["LABEL_ABDOMINAL", "LABEL_HIP_FLEXOR", "Rep", "RepBounds", "RepSegmenter", "analyze_reps", "assess_rep",
           "rep_totals", "window_from_angles"]
