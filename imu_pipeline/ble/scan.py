"""List nearby BLE devices and the sensor profile each one looks like."""

from __future__ import annotations

from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.scanner import BaseBleakScanner

from imu_pipeline.ble.clock import Clock, MonotonicClock
from imu_pipeline.ble.devices import recognise
from imu_pipeline.ble.errors import explain_bleak_error
from imu_pipeline.ble.profile import DeviceProfile, advertisement_from_bleak


@dataclass(frozen=True)
class ScanEntry:
    """One device seen while scanning.

    Attributes
    ----------
    name : advertised name (or None)
    address : Bluetooth address (a UUID on macOS)
    rssi : signal strength (dBm), None if unknown
    profile : the profile that recognises it, or None
    """

    name: str | None
    address: str
    rssi: int | None
    profile: str | None


async def scan(timeout_s: float = 5.0, *, scanner_backend: type[BaseBleakScanner] | None = None,
               clock: Clock | None = None, extra_profiles: list[DeviceProfile] | None = None) -> list[ScanEntry]:
    """Scan for ``timeout_s`` seconds; devices sorted by recognised first, then strongest signal.

    Raises
    ------
    BleError
        Bluetooth off, adapter missing, permission denied.
    """
    clock = clock or MonotonicClock()
    try:
        async with BleakScanner(backend=scanner_backend) as scanner:
            await clock.sleep(timeout_s)
            seen = scanner.discovered_devices_and_advertisement_data
    except Exception as e:
        raise explain_bleak_error(e, "scanning") from None
    entries = []
    for device, adv in seen.values():
        a = advertisement_from_bleak(device, adv)
        entries.append(ScanEntry(a.name, a.address, a.rssi, recognise(a, extra_profiles)))
    entries.sort(key=lambda e: (e.profile is None, -(e.rssi if e.rssi is not None else -999)))
    return entries


def format_scan(entries: list[ScanEntry]) -> list[str]:
    """Table lines: name, address, RSSI, profile."""
    if not entries:
        return ["no BLE devices found; are the sensors switched on and not connected to a phone?"]
    lines = [f"{'name':<24} {'address':<38} {'rssi':>5}  profile"]
    for e in entries:
        rssi = f"{e.rssi}" if e.rssi is not None else "?"
        lines.append(f"{(e.name or '(no name)')[:24]:<24} {e.address:<38} {rssi:>5}  {e.profile or '-'}")
    return lines
