"""SensorStream over the real bleak front-end with fake backends: connect, stream, faults, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from ble_fakes import FakeMovesense, FakeWitMotion, FakeWorld, synthetic_motion
from bleak.exc import BleakDBusError, BleakError

from imu_pipeline.ble.devices import MovesenseImu6, WitMotionBle5
from imu_pipeline.ble.errors import (
    AdapterMissingError,
    BluetoothOffError,
    ConnectionFailedError,
    DeviceNotFoundError,
    PermissionDeniedError,
    ProfileMismatchError,
    SensorLostError,
    explain_bleak_error,
)
from imu_pipeline.ble.reader import ReconnectPolicy, SensorStream
from imu_pipeline.ble.scan import format_scan, scan

WIT = "C1:00:00:00:00:01"
MOVE = "C1:00:00:00:00:02"


class Sink:
    def __init__(self) -> None:
        self.t: list[np.ndarray] = []
        self.acc: list[np.ndarray] = []
        self.events: list[tuple[float, str, str, dict[str, Any]]] = []

    def samples(self, sensor: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        self.t.append(t)
        self.acc.append(acc)

    def event(self, t: float, sensor: str, kind: str, extra: dict[str, Any]) -> None:
        self.events.append((t, sensor, kind, extra))

    @property
    def times(self) -> np.ndarray:
        return np.concatenate(self.t) if self.t else np.zeros(0)

    def kinds(self) -> list[str]:
        return [e[2] for e in self.events]


def make_world(**wit_kwargs: Any) -> tuple[FakeWorld, FakeWitMotion, FakeMovesense]:
    world = FakeWorld(seed=1)
    wit = world.add(FakeWitMotion(WIT, "WT901BLE68", synthetic_motion(100, 60, seed=1), rate_hz=10.0,
                                  rate_error=0.001, seed=2, **wit_kwargs))
    move = world.add(FakeMovesense(MOVE, "Movesense 174630000192", synthetic_motion(52, 60, seed=3), seed=4))
    return world, wit, move  # type: ignore[return-value]


def stream_for(world: FakeWorld, profile, sink: Sink, address: str | None = WIT, **kwargs: Any) -> SensorStream:
    return SensorStream("thigh", profile, on_samples=sink.samples, on_event=sink.event, address=address,
                        session_start=world.clock.now(), clock=world.clock, backend=world.client_backend(),
                        scanner_backend=world.scanner_backend(), scan_timeout_s=2.0, **kwargs)


async def run_for(world: FakeWorld, seconds: float) -> None:
    await world.clock.sleep(seconds)


def test_scan_lists_devices_with_their_profiles() -> None:
    async def main() -> list:
        world, _, _ = make_world()
        async with world.running():
            return await scan(1.0, scanner_backend=world.scanner_backend(), clock=world.clock)

    entries = asyncio.run(main())
    assert {(e.address, e.profile) for e in entries} == {(WIT, "witmotion"), (MOVE, "movesense")}
    lines = format_scan(entries)
    assert "WT901BLE68" in lines[1] + lines[2] and "rssi" in lines[0]


def test_witmotion_stream_commands_samples_and_battery() -> None:
    sink = Sink()

    async def main() -> SensorStream:
        world, wit, _ = make_world()
        async with world.running():
            s = stream_for(world, WitMotionBle5(sample_rate_hz=100), sink)
            await s.open()
            stop = asyncio.Event()
            sup = asyncio.ensure_future(s.supervise(stop))
            await run_for(world, 5.0)
            await s.poll_battery()
            await run_for(world, 0.5)
            stop.set()
            await sup
            await s.close()
            assert wit.writes[:2] == [bytes.fromhex("ff aa 69 88 b5"), bytes.fromhex("ff aa 03 09 00")]
            assert wit.client is None and not wit.streaming
            return s

    s = asyncio.run(main())
    t = sink.times
    assert s.status.samples == len(t) and 540 <= len(t) <= 560  # 100 Hz for ~5.5 s
    assert np.all(np.diff(t) > 0)
    assert s.status.battery_percent == 60.0  # 3.85 V -> 60 % (vendor table)
    assert s.status.decode_errors == 0 and sink.kinds() == ["connected"]


def test_malformed_packets_are_counted_and_skipped() -> None:
    sink = Sink()

    async def main() -> SensorStream:
        world, _, move = make_world()
        move.malformed_every = 5
        async with world.running():
            s = stream_for(world, MovesenseImu6(), sink, address=MOVE)
            await s.open()
            await run_for(world, 4.0)
            await s.close()
            assert s.status.decode_errors == move.malformed_sent > 5
            assert s.status.samples == len(move.truth.t)
            return s

    s = asyncio.run(main())
    assert s.status.battery_percent == 80.0  # Battery Service 0x180F/0x2A19


def test_disconnect_then_reconnect_with_events() -> None:
    sink = Sink()

    async def main() -> tuple[SensorStream, FakeMovesense]:
        world, _, move = make_world()
        async with world.running():
            s = stream_for(world, MovesenseImu6(), sink, address=MOVE,
                           policy=ReconnectPolicy(initial_delay_s=0.2, give_up_after_s=20))
            await s.open()
            move.schedule_drop(world.clock.now() + 3.0, down_s=2.0)
            stop = asyncio.Event()
            sup = asyncio.ensure_future(s.supervise(stop))
            await run_for(world, 10.0)
            stop.set()
            await sup
            await s.close()
            return s, move

    s, move = asyncio.run(main())
    assert sink.kinds() == ["connected", "disconnected", "reconnected"]
    t_drop, t_back = sink.events[1][0], sink.events[2][0]
    assert 2.9 < t_drop < 3.2 and 5.0 <= t_back < 6.5
    assert s.status.disconnects == 1 and s.status.lost_samples == 0
    t = sink.times
    assert np.all(np.diff(t) > 0)
    assert np.any(np.diff(t) > 1.5)  # the gap is there, not filled in
    assert len(t) == len(move.truth.t)


def test_sensor_that_never_comes_back_raises_sensor_lost() -> None:
    sink = Sink()

    async def main() -> None:
        world, wit, _ = make_world()
        async with world.running():
            s = stream_for(world, WitMotionBle5(), sink, policy=ReconnectPolicy(initial_delay_s=0.5, give_up_after_s=8))
            await s.open()
            wit.schedule_drop(world.clock.now() + 1.0, down_s=1e6)
            with pytest.raises(SensorLostError, match="did not come back within 8 s"):
                await s.supervise(asyncio.Event())
            await s.close()

    asyncio.run(main())
    assert sink.kinds()[-1] == "gave_up"


@pytest.mark.parametrize("adapter, error, words", [
    ("off", BluetoothOffError, "Bluetooth is off"),
    ("missing", AdapterMissingError, "no Bluetooth adapter"),
    ("denied", PermissionDeniedError, "permission"),
])
def test_adapter_problems_have_clear_messages(adapter: str, error: type, words: str) -> None:
    async def main() -> None:
        world, _, _ = make_world()
        world.adapter = adapter
        async with world.running():
            with pytest.raises(error, match=words):
                await stream_for(world, WitMotionBle5(), Sink()).open()

    asyncio.run(main())


def test_device_not_found_and_wrong_device() -> None:
    async def main() -> None:
        world, _, _ = make_world()
        async with world.running():
            with pytest.raises(DeviceNotFoundError, match="not found within 2 s"):
                await stream_for(world, WitMotionBle5(), Sink(), address="AA:BB:CC:DD:EE:FF").open()
            # the Movesense's address with the WitMotion profile: wrong device
            with pytest.raises(ProfileMismatchError, match="not a WitMotion"):
                await stream_for(world, WitMotionBle5(), Sink(), address=MOVE).open()
            assert world.devices[MOVE.lower()].client is None  # disconnected again

    asyncio.run(main())


def test_find_by_name_substring() -> None:
    async def main() -> str | None:
        world, _, _ = make_world()
        async with world.running():
            s = stream_for(world, MovesenseImu6(), Sink(), address=None, name="174630000192")
            await s.open()
            await s.close()
            return s.advertisement.address if s.advertisement else None

    assert asyncio.run(main()) == MOVE


def test_explain_raw_bleak_errors() -> None:
    assert isinstance(explain_bleak_error(BleakError("No Bluetooth adapters found."), "x"), AdapterMissingError)
    assert isinstance(explain_bleak_error(BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]), "x"),
                      BluetoothOffError)
    assert isinstance(explain_bleak_error(BleakDBusError("org.freedesktop.DBus.Error.AccessDenied", []), "x"),
                      PermissionDeniedError)
    assert isinstance(explain_bleak_error(PermissionError("nope"), "x"), PermissionDeniedError)
    # what bleak's BlueZ backend raises on a machine without the D-Bus system bus
    e = explain_bleak_error(FileNotFoundError(2, "No such file or directory"), "scanning")
    assert isinstance(e, AdapterMissingError) and "Bluetooth service" in str(e)
    e = explain_bleak_error(BleakError("something odd"), "connecting to the thigh sensor")
    assert isinstance(e, ConnectionFailedError) and str(e) == "connecting to the thigh sensor: something odd"
    assert isinstance(explain_bleak_error(asyncio.TimeoutError(), "x"), ConnectionFailedError)
