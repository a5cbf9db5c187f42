"""Typed errors of the BLE layer and plain-language messages for bleak's failures.

Every error a user can act on (Bluetooth off, no adapter, sensor not found, wrong sensor,
permission denied) is a :class:`BleError` whose message says what happened and what to do.
:func:`explain_bleak_error` turns bleak's exceptions (bleak 3.x) into one of them.
"""

from __future__ import annotations

from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDeviceNotFoundError,
    BleakError,
)

from imu_pipeline.errors import ImuPipelineError


class BleError(ImuPipelineError):
    """A BLE problem the user can fix; the message is one line and says how."""


class BluetoothOffError(BleError):
    """The adapter exists but its radio is switched off."""


class AdapterMissingError(BleError):
    """No usable Bluetooth (LE central) adapter on this computer."""


class PermissionDeniedError(BleError):
    """The operating system refused access to Bluetooth."""


class DeviceNotFoundError(BleError):
    """The sensor was not seen advertising (off, asleep, out of range, or connected elsewhere)."""


class ProfileMismatchError(BleError):
    """The device found is not the kind of sensor its profile describes."""


class ConnectionFailedError(BleError):
    """Connecting or starting the stream failed for another reason."""


class SensorLostError(BleError):
    """A sensor disconnected and did not come back within the reconnection window."""


_POWER_HINT = "turn Bluetooth on (e.g. `bluetoothctl power on`, or the system settings) and try again"
_ADAPTER_HINT = ("no Bluetooth adapter found: plug in a Bluetooth 4.0+ (LE) adapter, or check that "
                 "the bluetooth service is running (`systemctl status bluetooth` on Linux)")
_PERMISSION_HINT = ("permission to use Bluetooth was denied: allow Bluetooth for this terminal/app in the "
                    "system privacy settings (macOS), or add your user to the 'bluetooth' group (Linux)")


def explain_bleak_error(exc: BaseException, what: str) -> BleError:
    """Map an exception raised by bleak (or the OS below it) to a :class:`BleError`.

    Parameters
    ----------
    exc
        The exception caught around a bleak call.
    what
        What was being done, for the message, e.g. ``"connecting to the thigh sensor (AA:BB:..)"``.

    Returns
    -------
    BleError
        A subclass that names the cause and the fix. Unknown failures become
        :class:`ConnectionFailedError` carrying bleak's own text.
    """
    if isinstance(exc, BleError):
        return exc
    if isinstance(exc, BleakBluetoothNotAvailableError):
        reason = exc.reason
        if reason == BleakBluetoothNotAvailableReason.POWERED_OFF:
            return BluetoothOffError(f"{what}: Bluetooth is off; {_POWER_HINT}")
        if reason in (BleakBluetoothNotAvailableReason.NO_BLUETOOTH,
                      BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE):
            return AdapterMissingError(f"{what}: {_ADAPTER_HINT}")
        if reason in (BleakBluetoothNotAvailableReason.DENIED_BY_USER,
                      BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM,
                      BleakBluetoothNotAvailableReason.DENIED_BY_UNKNOWN):
            return PermissionDeniedError(f"{what}: {_PERMISSION_HINT}")
        return BluetoothOffError(f"{what}: Bluetooth is not available ({exc.args[0]}); {_POWER_HINT}")
    if isinstance(exc, BleakDeviceNotFoundError):
        return DeviceNotFoundError(
            f"{what}: the Bluetooth stack does not know device {exc.identifier}; make sure the sensor is "
            "switched on, charged, within a few metres and not connected to a phone app, then run "
            "`imu-pipeline scan`")
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(f"{what}: {_PERMISSION_HINT}")
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
        # BlueZ is reached over the D-Bus system bus; no socket means no Bluetooth service
        return AdapterMissingError(f"{what}: cannot reach the system's Bluetooth service ({exc}); "
                                   f"{_ADAPTER_HINT}")
    text = " ".join(str(a) for a in getattr(exc, "args", ()) if a is not None) or type(exc).__name__
    low = text.lower()
    if isinstance(exc, (BleakError, OSError)):
        if "notready" in low or "powered off" in low or "not powered" in low:
            return BluetoothOffError(f"{what}: Bluetooth is off; {_POWER_HINT}")
        if "no bluetooth adapters" in low or ("adapter" in low and "not found" in low):
            return AdapterMissingError(f"{what}: {_ADAPTER_HINT}")
        if "accessdenied" in low or "not authorized" in low or "permission" in low:
            return PermissionDeniedError(f"{what}: {_PERMISSION_HINT}")
        if "serviceunknown" in low:
            return AdapterMissingError(f"{what}: {_ADAPTER_HINT}")
    if isinstance(exc, TimeoutError):
        return ConnectionFailedError(f"{what}: timed out; move the sensor closer and make sure no other "
                                     "app is connected to it")
    return ConnectionFailedError(f"{what}: {text}")
