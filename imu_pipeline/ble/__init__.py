"""BLE acquisition: device profiles, the bleak reader, session timing and the recorder.

Modules, one job each:

* :mod:`.profile` — the :class:`DeviceProfile` interface; :mod:`.devices` — one module per family
* :mod:`.timing` — device/host time -> session clock, loss counting
* :mod:`.reader` — one sensor over bleak, reconnection; :mod:`.scan` — ``imu-pipeline scan``
* :mod:`.recorder` — two sensors -> a format v1 recording (the CLI is :mod:`imu_pipeline.cli.record`)
"""

from imu_pipeline.ble.errors import (
    AdapterMissingError,
    BleError,
    BluetoothOffError,
    ConnectionFailedError,
    DeviceNotFoundError,
    PermissionDeniedError,
    ProfileMismatchError,
    SensorLostError,
)
from imu_pipeline.ble.profile import (
    Advertisement,
    DecodeError,
    DeviceProfile,
    SampleBatch,
)

__all__ = ["AdapterMissingError", "Advertisement", "BleError", "BluetoothOffError", "ConnectionFailedError",
           "DecodeError", "DeviceNotFoundError", "DeviceProfile", "PermissionDeniedError", "ProfileMismatchError",
           "SampleBatch", "SensorLostError"]
