"""Device profiles: decoders on documented payload bytes, fuzzing, recognition, configuration.

Sources of the payload facts:

* WitMotion — WT901BLECL datasheet v20-0707 §6.1.1 (``55 61`` frame, scale 16 g and 2000 °/s per
  32768) and §6.1.2.1 (register read reply example ``55 71 3A 00 68 01 69 00 7A 00 …``,
  magnetic field 360/105/122); vendor SDK github.com/WITMOTION/WitBluetooth_BWT901BLE5_0,
  ``Android_Java/wit-example-ble5/WitSDK/.../Device/DeviceModel.java`` (rate codes of
  ``SetRRate``, battery register 0x64 in 0.01 V and the percent table) and ``BleUUID.java``.
* Movesense — movesense-device-lib ``samples/gatt_sensordata_app/GATTSensorDataClient.cpp``
  (command/response bytes: ``01 ref 01 FB`` = HTTP 507, ``01 ref 'Hello'``, data ``02 ref …``) and
  ``python_client/movesense_sensor_data.py`` (subscribe ``[1, 99] + b"/Meas/Acc/13"``).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_pipeline.ble.devices import ProfileConfigError, make_profile, recognise
from imu_pipeline.ble.devices.generic import GenericConfigError, GenericProfile, spec_from_dict
from imu_pipeline.ble.devices.movesense import MovesenseImu6
from imu_pipeline.ble.devices.witmotion import WitMotionBle5, battery_percent_from_volts
from imu_pipeline.ble.profile import Advertisement, DecodeError, DeviceProfile, normalise_uuid

G = 9.80665
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
NANO33 = str(CONFIGS / "generic-arduino-nano33.toml")


def _profiles() -> list[DeviceProfile]:
    return [WitMotionBle5(), MovesenseImu6(), make_profile(NANO33)]


# --------------------------------------------------------------------------- WitMotion


def test_witmotion_data_frame_from_the_datasheet_formula() -> None:
    # 55 61 | ax ay az | wx wy wz | roll pitch yaw, int16 little-endian (datasheet §6.1.1)
    frame = bytes.fromhex("55 61 00 00 00 f8 00 08 10 00 f0 ff 00 40 00 00 00 00 00 00")
    batch = WitMotionBle5().decode(frame)
    assert len(batch) == 1 and batch.device_time_s is None and batch.counter is None
    # ay = 0xf800 = -2048 -> -1 g; az = 0x0800 = 2048 -> 2048/32768*16 g = 1 g
    np.testing.assert_allclose(batch.acc[0], [0.0, -G, G], rtol=1e-12)
    # wx = 16 -> 16/32768*2000 = 0.9765625 deg/s; wy = -16; wz = 0x4000 = 16384 -> 1000 deg/s
    np.testing.assert_allclose(np.degrees(batch.gyr[0]), [0.9765625, -0.9765625, 1000.0], rtol=1e-12)


def test_witmotion_register_reply_example_from_the_datasheet_carries_no_samples() -> None:
    example = bytes.fromhex("55 71 3A 00 68 01 69 00 7A 00 00 00 00 00 00 00 00 00 00 00")
    batch = WitMotionBle5().decode(example)
    assert len(batch) == 0 and batch.battery_percent is None
    # the layout the decoder relies on: start register then int16 registers
    assert struct.unpack_from("<H3h", example, 2) == (0x3A, 360, 105, 122)


def test_witmotion_battery_register_reply_and_vendor_table() -> None:
    reply = struct.pack("<BBH8h", 0x55, 0x71, 0x64, 385, 0, 0, 0, 0, 0, 0, 0)  # 3.85 V
    assert WitMotionBle5().decode(reply).battery_percent == 60.0
    assert battery_percent_from_volts(4.10) == 100.0
    assert battery_percent_from_volts(3.30) == 0.0


def test_witmotion_commands_follow_the_vendor_sdk() -> None:
    p = WitMotionBle5(sample_rate_hz=100)
    assert p.start_commands() == [bytes.fromhex("ff aa 69 88 b5"), bytes.fromhex("ff aa 03 09 00")]
    assert WitMotionBle5(sample_rate_hz=200).start_commands()[1] == bytes.fromhex("ff aa 03 0b 00")
    assert WitMotionBle5(sample_rate_hz=10).start_commands()[1] == bytes.fromhex("ff aa 03 06 00")
    assert p.battery_request() == bytes.fromhex("ff aa 27 64 00")
    assert p.service_uuid.endswith("00805f9a34fb")  # WitMotion's own base UUID, as in its SDK


def test_witmotion_two_frames_in_one_notification() -> None:
    f1 = struct.pack("<BB9h", 0x55, 0x61, 1, 2, 3, 4, 5, 6, 0, 0, 0)
    f2 = struct.pack("<BB9h", 0x55, 0x61, -1, -2, -3, -4, -5, -6, 0, 0, 0)
    batch = WitMotionBle5().decode(f1 + f2)
    assert len(batch) == 2
    np.testing.assert_allclose(batch.acc[1], -batch.acc[0])


@pytest.mark.parametrize("payload", [b"", b"\x55\x61" + bytes(17), bytes(20), b"\x55\x62" + bytes(18),
                                     struct.pack("<BBH8h", 0x55, 0x71, 0x64, 900, 0, 0, 0, 0, 0, 0, 0)])
def test_witmotion_rejects_malformed(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        WitMotionBle5().decode(payload)


@settings(deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=9, max_size=9))
def test_witmotion_roundtrip_exact(raw: list[int]) -> None:
    batch = WitMotionBle5().decode(struct.pack("<BB9h", 0x55, 0x61, *raw))
    np.testing.assert_allclose(batch.acc[0], np.array(raw[0:3]) * (16 * G / 32768), rtol=1e-15, atol=0)
    np.testing.assert_allclose(batch.gyr[0], np.array(raw[3:6]) * (2000 * math.pi / 180 / 32768), rtol=1e-15, atol=0)


# --------------------------------------------------------------------------- Movesense


def _imu6(ref: int, ts_ms: int, acc: np.ndarray, gyr_dps: np.ndarray) -> bytes:
    return (bytes([2, ref]) + struct.pack("<I", ts_ms) + np.asarray(acc, "<f4").tobytes()
            + np.asarray(gyr_dps, "<f4").tobytes())


def test_movesense_imu6_packet() -> None:
    acc = np.array([[0.5, -0.25, 9.75], [0.0, 1.0, -9.5], [1.5, 2.5, 3.5], [-1.0, -2.0, -3.0]])
    gyr = np.array([[10.0, -20.0, 30.0], [0.5, 0.25, -0.125], [100, 200, 300], [-1, -2, -3]], dtype=float)
    p = MovesenseImu6(sample_rate_hz=52)
    batch = p.decode(_imu6(99, 123456, acc, gyr))
    assert len(batch) == 4
    np.testing.assert_array_equal(batch.acc, acc)  # these values are exact in float32
    np.testing.assert_allclose(batch.gyr, np.radians(gyr), rtol=1e-7)
    np.testing.assert_allclose(batch.device_time_s, 123.456 + np.arange(4) / 52.0)


def test_movesense_command_results_from_the_sample_app_carry_no_samples() -> None:
    p = MovesenseImu6()
    assert len(p.decode(bytes([1, 99, 0x01, 0xFB]))) == 0  # HTTP 507 reply
    assert len(p.decode(bytes([1, 99]) + b"Hello")) == 0


def test_movesense_commands_follow_the_sample_app() -> None:
    p = MovesenseImu6(sample_rate_hz=104, reference=99)
    assert p.start_commands() == [bytes([1, 99]) + b"/Meas/IMU6/104"]
    assert p.stop_commands() == [bytes([2, 99])]
    with pytest.raises(ValueError, match="not supported"):
        MovesenseImu6(sample_rate_hz=100)


@pytest.mark.parametrize("payload", [
    b"", b"\x02", bytes([3, 99, 0, 0]), bytes([2, 98]) + bytes(4 + 24),  # foreign reference
    bytes([2, 99]) + bytes(4),  # no samples
    bytes([2, 99]) + bytes(4 + 23),  # partial sample
    _imu6(99, 0, np.array([[math.nan, 0, 0]]), np.zeros((1, 3))),
    _imu6(99, 0, np.array([[1e6, 0, 0]]), np.zeros((1, 3))),  # beyond ±16 g
    _imu6(99, 0, np.zeros((1, 3)), np.array([[5000.0, 0, 0]])),  # beyond ±2000 deg/s
])
def test_movesense_rejects_malformed(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        MovesenseImu6().decode(payload)


@settings(deadline=None)
@given(st.integers(1, 6), st.data())
def test_movesense_float_payloads_decode_exactly_or_are_rejected(n: int, data: st.DataObject) -> None:
    floats = data.draw(st.lists(st.floats(width=32), min_size=6 * n, max_size=6 * n))
    arr = np.asarray(floats, dtype="<f4").reshape(2, n, 3)
    payload = _imu6(99, 1000, arr[0], arr[1])
    p = MovesenseImu6()
    ok = np.all(np.isfinite(arr)) and np.max(np.abs(arr[0])) <= p.acc_range_m_s2 and \
        np.max(np.abs(np.radians(arr[1].astype(float)))) <= p.gyr_range_rad_s
    try:
        batch = p.decode(payload)
    except DecodeError:
        assert not ok or np.max(np.abs(arr[0])) > p.acc_range_m_s2 * 0.999
        return
    np.testing.assert_array_equal(batch.acc, arr[0].astype(float))
    np.testing.assert_allclose(batch.gyr, np.radians(arr[1].astype(float)), rtol=1e-12)


# --------------------------------------------------------------------------- generic


def test_generic_nano33_example_config_decodes_its_packet() -> None:
    p = make_profile(NANO33)
    assert p.timing == "counter" and p.counter_modulus == 65536 and p.start_commands() == [b"\x01"]
    batch = p.decode(struct.pack("<H6h", 65535, 8197, 0, -8197, 1000, 0, -1000))
    assert batch.counter == 65535
    np.testing.assert_allclose(batch.acc[0], [8197 * 0.122e-3 * G, 0, -8197 * 0.122e-3 * G], rtol=1e-8)
    np.testing.assert_allclose(batch.gyr[0], np.radians([70.0, 0, -70.0]), rtol=1e-7)


def test_generic_with_timestamps_and_several_samples() -> None:
    spec = spec_from_dict({"service_uuid": "1234", "notify_uuid": "1235", "sample": ">Ihhhhhh",
                           "sample_fields": ["timestamp", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"],
                           "samples_per_packet": 2, "acc_scale": 0.01, "gyr_scale": 0.001,
                           "timestamp_scale": 1e-6, "sample_rate_hz": 100})
    p = GenericProfile(spec=spec)
    assert p.timing == "device_time" and p.timestamp_wrap_s == pytest.approx(2**32 * 1e-6)
    payload = (struct.pack(">Ihhhhhh", 1_000_000, 1, 2, 3, 4, 5, 6)
               + struct.pack(">Ihhhhhh", 1_010_000, 0, 0, 981, 0, 0, 0))
    batch = p.decode(payload)
    np.testing.assert_allclose(batch.device_time_s, [1.0, 1.01])
    np.testing.assert_allclose(batch.acc, [[0.01, 0.02, 0.03], [0, 0, 9.81]])
    assert p.service_uuid == "00001234-0000-1000-8000-00805f9b34fb"


@pytest.mark.parametrize("change, message", [
    ({"sample": "hhhhhh"}, "starting with '<'"),
    ({"sample_fields": ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y"]}, "5 names for 6 values"),
    ({"sample_fields": ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "speed"]}, "unknown field"),
    ({"sample_fields": ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "_"]}, "missing"),
    ({"acc_scale": 0}, "acc_scale"),
    ({"notify_uuid": "xyz"}, "not a Bluetooth UUID"),
    ({"start_command": "zz"}, "not hex"),
    ({"colour": "red"}, "unknown key"),
])
def test_generic_config_errors_name_the_key(change: dict, message: str) -> None:
    base = {"service_uuid": "1234", "notify_uuid": "1235", "sample": "<hhhhhh",
            "sample_fields": ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"],
            "acc_scale": 0.01, "gyr_scale": 0.001, "sample_rate_hz": 100}
    with pytest.raises(GenericConfigError, match=message):
        spec_from_dict({**base, **change}, "dev.toml")


# --------------------------------------------------------------------------- all profiles


@pytest.mark.parametrize("profile", _profiles(), ids=lambda p: p.name)
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(profile: DeviceProfile, payload: bytes) -> None:
    """Arbitrary bytes: a DecodeError, or samples that are finite and within the sensor's range."""
    try:
        batch = profile.decode(payload)
    except DecodeError:
        return
    n = len(batch)
    assert batch.acc.shape == (n, 3) and batch.gyr.shape == (n, 3)
    assert np.all(np.isfinite(batch.acc)) and np.all(np.isfinite(batch.gyr))
    assert np.all(np.abs(batch.acc) <= profile.acc_range_m_s2 * 1.001)
    assert np.all(np.abs(batch.gyr) <= profile.gyr_range_rad_s * 1.001)
    if batch.device_time_s is not None:
        assert batch.device_time_s.shape == (n,) and np.all(np.isfinite(batch.device_time_s))


@pytest.mark.parametrize("prefix", [b"\x55\x61", b"\x55\x71", b"\x02\x63", b"\x01\x63"])
@settings(max_examples=200, deadline=None)
@given(tail=st.binary(max_size=120))
def test_fuzz_near_valid_headers(prefix: bytes, tail: bytes) -> None:
    """Valid headers followed by junk reach the deep paths; still only DecodeError or plausible samples."""
    for profile in (WitMotionBle5(), MovesenseImu6()):
        try:
            batch = profile.decode(prefix + tail)
        except DecodeError:
            continue
        assert np.all(np.isfinite(batch.acc)) and np.all(np.abs(batch.gyr) <= profile.gyr_range_rad_s * 1.001)


def test_recognition_from_advertisements() -> None:
    nano = make_profile(NANO33)
    assert recognise(Advertisement("WT901BLE68", "AA")) == "witmotion"
    assert recognise(Advertisement("Movesense 174630000192", "BB")) == "movesense"
    assert recognise(Advertisement("Nano33IMU-1", "CC"), [nano]) == "arduino-nano33"
    assert recognise(Advertisement("Nano33IMU-1", "CC")) is None
    assert recognise(Advertisement(None, "DD")) is None
    assert recognise(Advertisement("Polar H10", "EE")) == "polar-verity"  # recognised, then refused on connecting
    by_adv = GenericProfile(spec=spec_from_dict({
        "name": "esp32-imu", "service_uuid": "1234", "notify_uuid": "1235", "sample": "<hhhhhh",
        "sample_fields": ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"], "acc_scale": 0.01,
        "gyr_scale": 0.001, "sample_rate_hz": 100, "advertised_services": ["1234"], "manufacturer_ids": [0x02E5]}))
    assert recognise(Advertisement(None, "FF", service_uuids=("00001234-0000-1000-8000-00805f9b34fb",)),
                     [by_adv]) == "esp32-imu"
    assert recognise(Advertisement(None, "FF", manufacturer_ids=(0x02E5,)), [by_adv]) == "esp32-imu"
    assert recognise(Advertisement(None, "FF", manufacturer_ids=(0x004C,)), [by_adv]) is None


def test_make_profile_errors_are_clear() -> None:
    assert make_profile("polar").name == "polar-verity"  # now supported (the Verity Sense)
    with pytest.raises(ProfileConfigError, match="unknown profile 'thingy52'"):
        make_profile("thingy52")
    with pytest.raises(ProfileConfigError, match="choose one of 1, 5, 10, 50, 100, 200 Hz"):
        make_profile("witmotion", 120)
    with pytest.raises(ProfileConfigError, match="options.file"):
        make_profile("generic")
    with pytest.raises(ProfileConfigError, match="unknown option"):
        make_profile("movesense", options={"colour": 1})
    assert make_profile("WT901BLECL").name == "witmotion"
    assert make_profile("generic", options={"file": NANO33}).name == "arduino-nano33"


def test_normalise_uuid() -> None:
    assert normalise_uuid("180F") == "0000180f-0000-1000-8000-00805f9b34fb"
    assert normalise_uuid("0x2A19") == "00002a19-0000-1000-8000-00805f9b34fb"
    with pytest.raises(ValueError):
        normalise_uuid("18")


def test_example_sensor_config_builds_both_profiles() -> None:
    from imu_pipeline.cli.record import profiles_for
    from imu_pipeline.config import load_sensor_config

    specs = load_sensor_config(CONFIGS / "sensors.example.toml")
    profiles = profiles_for(specs, CONFIGS)
    assert profiles["thigh"].name == "witmotion" and profiles["thigh"].sample_rate_hz == 100
    assert profiles["pelvis"].name == "movesense" and profiles["pelvis"].sample_rate_hz == 104
