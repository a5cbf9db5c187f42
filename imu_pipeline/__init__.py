"""imu-pipeline: two BLE IMUs (thigh + pelvis) -> hip flexion, pelvic tilt, and an honest
verdict on every leg raise (hip-flexor-only vs abdominal-engaging, momentum)."""

__version__ = "0.1.0"
