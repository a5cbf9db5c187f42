"""``imu-pipeline scan``: nearby BLE devices and the sensor profile each looks like."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from bleak.backends.scanner import BaseBleakScanner

from imu_pipeline.ble.clock import Clock


async def scan_async(args: argparse.Namespace, *, scanner_backend: type[BaseBleakScanner] | None = None,
                     clock: Clock | None = None, out: Callable[[str], None] = print) -> int:
    """Run ``scan``: print name, address, RSSI and recognised profile of every device seen.

    BLE failures (adapter off, no permission) raise :class:`~imu_pipeline.ble.errors.BleError`,
    which the command line reports like every user error."""
    from imu_pipeline.ble.scan import format_scan, scan

    entries = await scan(args.timeout, scanner_backend=scanner_backend, clock=clock)
    for line in format_scan(entries):
        out(line)
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    return asyncio.run(scan_async(args))


def register(subparsers: Any) -> None:
    ps = subparsers.add_parser("scan", help="list nearby BLE devices and the sensor profile each looks like",
                               description="Scan for BLE devices: name, address, RSSI and recognised profile.")
    ps.add_argument("--timeout", type=float, default=5.0, help="scan this long (s, default 5)")
    ps.set_defaults(func=_cmd_scan)
