"""Polar Verity Sense: accelerometer + gyroscope over the Polar Measurement Data (PMD) service.

Facts used, each with its source (github.com/polarofficial/polar-ble-sdk, Android sources under
``sources/Android/android-communications/library/src/main/java/com/polar/androidcommunications/api/ble/model/gatt/client/pmd/``
unless named otherwise):

* GATT: PMD service ``FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8``, control point ``FB005C81-…`` (read =
  the feature bitmap, write with response = commands, notify = responses) and data ``FB005C82-…``
  (notify) (``BlePMDClient.kt`` ``PMD_SERVICE``, ``PMD_CP``, ``PMD_DATA``; the commands are written
  with response in ``sendPmdCommand``).
* Feature read of the control point: byte 1 bit 0x04 = accelerometer, 0x20 = gyroscope
  (``PmdMeasurementType.kt`` ``fromByteArray``).
* Control point op codes: get settings 1, start 2, stop 3 (``PmdControlPointCommand.kt``);
  measurement types ACC = 2, GYRO = 5 (``PmdMeasurementType.kt``).
* Start = ``[2, type]`` + settings, each ``(setting type, count 1, little-endian value)``; setting
  types sample rate 0, resolution 1, range 2, channels 4, factor 5 with sizes 2, 2, 2, 1, 4 bytes
  (``PmdSetting.kt`` ``serializeSelected``, ``typeToFieldSize``; ``BlePMDClient.startMeasurement``).
* Response: ``F0 op type status more params…``; status 0 = success, the others are named in
  ``PmdControlPointResponse.kt``; the parameters of a start response are settings in the same
  layout, and the FACTOR (float32 bits) they carry scales the stream's values (``PmdSetting.kt``
  ``updateSelectedFromStartResponse``, ``BlePMDClient.getFactor``: ``intBitsToFloat``; no factor =
  1.0). An unsolicited ``01 types…`` notification means the device stopped those streams
  (``PmdControlPointCommandServiceToClient``).
* Data frame: measurement type byte, uint64 LE timestamp (ns since 2000-01-01, the device clock;
  ``documentation/TimeSystemExplained.md``), frame-type byte (bit 7 = compressed, bits 0-6 = type),
  then the content (``PmdDataFrame.kt``).
* Compressed content: a reference sample (3 channels of ``resolution`` bits, little-endian,
  signed), then blocks of ``(delta bit width, sample count, count × 3 deltas bit-packed LSB-first,
  signed)``, each delta added to the previous sample (``BlePMDClient.parseDeltaFramesAll``).
* Accelerometer (``model/AccData.kt``): compressed type 1 = 16-bit × factor → mG; compressed type 0 =
  16-bit × factor × 1000 → mG; raw types 0/1/2 = int8/int16/int24 mG. Gyroscope
  (``model/GyrData.kt``): compressed type 0 = 16-bit × factor → °/s; compressed type 1 = 32-bit
  IEEE-754 bit patterns (deltas added to the integer bits) × factor → °/s.
* Sample times (``model/PmdTimeStampUtils.kt``): the frame's timestamp is its **last** sample; the
  others step back by ``(frame − previous frame timestamp) / n`` when the previous frame of the
  stream is known, else by ``1/rate``.
* Verity Sense streaming without SDK mode: acc and gyro at 52 Hz, ±8 g and ±2000 °/s, 16-bit
  (``documentation/products/PolarVeritySense.md``). The Polar H10 streams acceleration (and ECG)
  but has **no gyroscope** (``documentation/products/PolarH10.md``). Polar sensors advertise
  ``Polar <model> <id>``, e.g. ``Polar H10 AAAA0001``, ``Polar Sense AAAA0003`` (the SDK's iOS test
  ``Tests/PolarBleSdkTests/PolarBleApiImplTests.swift``).

Deliberate differences from the SDK: a 1-bit delta is read as a two's-complement number (0 or −1;
the SDK's mask turns 1 into 2³¹−1), a delta block that does not fit the frame, a 0-bit block with
samples, 16-bit samples that overflow int16 or a timestamp that does not advance are rejected
(:class:`~imu_pipeline.ble.profile.DecodeError`) rather than decoded; and the previous frame's
timestamp spaces the samples only when it gives a period within 25 % of the nominal one (after a
lost frame the SDK would stretch the next frame's samples over the gap).
"""

from __future__ import annotations

import math
import re
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from imu_pipeline.ble.errors import ConnectionFailedError, ProfileMismatchError
from imu_pipeline.ble.profile import (
    DEG_TO_RAD,
    STANDARD_GRAVITY_M_S2,
    DecodeError,
    DeviceProfile,
    ProfileLink,
    SampleBatch,
)

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

OP_GET_SETTINGS = 1
OP_START = 2
OP_STOP = 3
RESPONSE_CODE = 0xF0
MEASUREMENT_STOPPED = 0x01
TYPE_ACC = 2
TYPE_GYRO = 5
FEATURE_ACC_BIT = 0x04
FEATURE_GYRO_BIT = 0x20

SETTING_SAMPLE_RATE = 0
SETTING_RESOLUTION = 1
SETTING_RANGE = 2
SETTING_RANGE_MILLIUNIT = 3
SETTING_CHANNELS = 4
SETTING_FACTOR = 5
SETTING_SECURITY = 6
#: Bytes per value of each setting type (``PmdSetting.typeToFieldSize``).
SETTING_SIZES: dict[int, int] = {SETTING_SAMPLE_RATE: 2, SETTING_RESOLUTION: 2, SETTING_RANGE: 2,
                                 SETTING_RANGE_MILLIUNIT: 4, SETTING_CHANNELS: 1, SETTING_FACTOR: 4,
                                 SETTING_SECURITY: 16}
#: ``PmdControlPointResponseCode`` names, for messages.
STATUS_NAMES: dict[int, str] = {
    0: "success", 1: "invalid op code", 2: "invalid measurement type", 3: "not supported", 4: "invalid length",
    5: "invalid parameter", 6: "already in state", 7: "invalid resolution", 8: "invalid sample rate",
    9: "invalid range", 10: "invalid MTU", 11: "invalid number of channels", 12: "invalid state",
    13: "device in charger", 14: "disk full"}

#: Verity Sense online streaming without SDK mode (PolarVeritySense.md).
STREAM_RATE_HZ = 52.0
RESOLUTION_BITS = 16
ACC_RANGE_G = 8
GYR_RANGE_DPS = 2000
FRAME_HEADER_LEN = 10
#: Nanoseconds per second.
NS = 1_000_000_000
#: A timestamp more than this far behind the stream's previous frame is a device clock restart (ns).
CLOCK_RESTART_NS = NS
#: The previous frame's timestamp spaces the samples only if it gives a period within this fraction.
PERIOD_TOLERANCE = 0.25

_H10_NAME = re.compile(r"^Polar H10\b")


@dataclass(frozen=True)
class ControlPointResponse:
    """A parsed ``F0 op type status more params…`` control-point response."""

    op: int
    measurement_type: int
    status: int
    more: bool
    parameters: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0


def parse_control_point_response(data: bytes) -> ControlPointResponse:
    """Parse a control-point response (``PmdControlPointResponse``); parameters only on success."""
    if len(data) < 4 or data[0] != RESPONSE_CODE:
        raise DecodeError(f"Polar PMD: not a control-point response ({bytes(data[:6]).hex(' ')})")
    status = data[3]
    ok = status == 0
    return ControlPointResponse(op=data[1], measurement_type=data[2], status=status,
                                more=ok and len(data) > 4 and data[4] != 0,
                                parameters=bytes(data[5:]) if ok else b"")


def parse_settings(data: bytes) -> dict[int, list[int]]:
    """Settings ``(type, count, values…)`` → {type: values} (``PmdSetting.parsePmdSettingsData``:
    values little-endian, signed)."""
    out: dict[int, list[int]] = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise DecodeError("Polar PMD: settings cut off after a setting type")
        kind, count = data[i], data[i + 1]
        size = SETTING_SIZES.get(kind)
        if size is None:
            raise DecodeError(f"Polar PMD: unknown setting type {kind}")
        i += 2
        if i + count * size > len(data):
            raise DecodeError("Polar PMD: settings cut off inside the values")
        out[kind] = [int.from_bytes(data[i + j * size:i + (j + 1) * size], "little", signed=True)
                     for j in range(count)]
        i += count * size
    return out


def serialize_settings(selected: dict[int, int]) -> bytes:
    """``(type, 1, value LE)`` per selected setting, factor excluded (``PmdSetting.serializeSelected``)."""
    out = bytearray()
    for kind, value in selected.items():
        if kind == SETTING_FACTOR:
            continue
        out += bytes([kind, 1]) + int(value).to_bytes(SETTING_SIZES[kind], "little", signed=False)
    return bytes(out)


def start_command(measurement_type: int, selected: dict[int, int]) -> bytes:
    """``[2, type]`` + settings: the online-streaming start request."""
    return bytes([OP_START, measurement_type]) + serialize_settings(selected)


def stop_command(measurement_type: int) -> bytes:
    return bytes([OP_STOP, measurement_type])


def factor_from_start_response(resp: ControlPointResponse) -> float | None:
    """The FACTOR setting of a start response as a float (its value is float32 bits), or None."""
    values = parse_settings(resp.parameters).get(SETTING_FACTOR)
    if not values:
        return None
    return float(struct.unpack("<f", struct.pack("<i", values[0]))[0])


def _signed(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement reading of ``bits``-bit unsigned values (int64)."""
    v = values.astype(np.int64)
    return np.where(v >= (1 << (bits - 1)), v - (1 << bits), v)


def parse_delta_frames(content: bytes, channels: int = 3, resolution: int = 16) -> np.ndarray:
    """Decode delta-compressed content (``parseDeltaFramesAll``): (N, channels) int64 samples.

    The reference sample holds ``channels`` signed little-endian values of ``ceil(resolution/8)``
    bytes; every block is ``(bit width, count, count·channels deltas bit-packed LSB-first)``.
    Values are not range-checked here (32-bit float patterns use the whole range).

    Raises
    ------
    DecodeError
        Content too short for the reference sample, a block that does not fit, a bit width above
        32, or a 0-bit block with samples.
    """
    nbytes = math.ceil(resolution / 8)
    ref_len = channels * nbytes
    if len(content) < ref_len:
        raise DecodeError(f"Polar PMD: compressed frame of {len(content)} bytes has no full reference sample")
    ref = np.array([int.from_bytes(content[i * nbytes:(i + 1) * nbytes], "little") for i in range(channels)],
                   dtype=np.int64)
    rows = [_signed(ref, 8 * nbytes)[None, :]]
    last = rows[0][0]
    off = ref_len
    while off < len(content):
        if off + 2 > len(content):
            raise DecodeError("Polar PMD: compressed frame ends inside a delta block header")
        width, count = content[off], content[off + 1]
        off += 2
        nbits = width * count * channels
        length = math.ceil(nbits / 8)
        if width > 32 or (width == 0 and count > 0):
            raise DecodeError(f"Polar PMD: delta bit width {width} with {count} samples")
        if off + length > len(content):
            raise DecodeError("Polar PMD: delta block runs past the end of the frame")
        if count:
            bits = np.unpackbits(np.frombuffer(content, np.uint8, length, off), bitorder="little")[:nbits]
            raw = bits.reshape(count * channels, width).astype(np.int64) @ (np.int64(1) << np.arange(width))
            deltas = _signed(raw, width).reshape(count, channels)
            block = last[None, :] + np.cumsum(deltas, axis=0)
            rows.append(block)
            last = block[-1]
        off += length
    return np.concatenate(rows, axis=0)


def sample_times_ns(frame_ts_ns: int, n: int, rate_hz: float, previous_ts_ns: int | None = None) -> np.ndarray:
    """Times (ns, float64) of a frame's ``n`` samples (``PmdTimeStampUtils.getTimeStamps``).

    The last sample carries ``frame_ts_ns``; the step is ``(frame − previous)/n`` when the previous
    frame's timestamp is given, else ``1e9/rate``; the first sample follows ``previous`` by one step.

    Raises
    ------
    DecodeError
        No samples, a step that is not positive, no rate without a previous timestamp, or a first
        sample before the epoch.
    """
    if n <= 0:
        raise DecodeError("Polar PMD: a frame without samples")
    if previous_ts_ns is not None:
        if frame_ts_ns <= previous_ts_ns:
            raise DecodeError("Polar PMD: frame timestamp does not advance")
        step = (frame_ts_ns - previous_ts_ns) / n
        first = previous_ts_ns + step
    else:
        if not rate_hz > 0:
            raise DecodeError("Polar PMD: neither a previous timestamp nor a sample rate")
        step = NS / rate_hz
        first = frame_ts_ns - step * (n - 1)
    if frame_ts_ns < step * n or first <= 0:
        raise DecodeError("Polar PMD: sample timestamps before the device epoch")
    out = first + step * np.arange(n, dtype=np.float64)
    out[-1] = float(frame_ts_ns)
    return out


@dataclass(frozen=True)
class PmdFrame:
    """One decoded PMD data frame, in the device's units (acc mG, gyro °/s)."""

    measurement_type: int
    timestamp_ns: int
    frame_type: int
    compressed: bool
    values: np.ndarray


def decode_frame(payload: bytes, factor: float = 1.0) -> PmdFrame:
    """Decode a PMD data notification of the accelerometer or the gyroscope (see the module notes).

    ``factor`` is the stream's FACTOR from its start response. Values are in the SDK's units: acc
    in mG, gyro in °/s; not range-checked.

    Raises
    ------
    DecodeError
        Not an acc/gyro frame, an unsupported frame type, or malformed content.
    """
    data = bytes(payload)
    if len(data) <= FRAME_HEADER_LEN:
        raise DecodeError(f"Polar PMD: data frame of {len(data)} bytes is too short")
    mtype = data[0]
    ts = int.from_bytes(data[1:9], "little")
    compressed = bool(data[9] & 0x80)
    ftype = data[9] & 0x7F
    content = data[FRAME_HEADER_LEN:]
    f = np.float32(factor)
    if mtype == TYPE_ACC:
        if compressed and ftype in (0, 1):
            raw = parse_delta_frames(content, 3, RESOLUTION_BITS)
            _check_int16(raw)
            vals = raw * (float(f) * 1000.0 if ftype == 0 else float(f))
        elif not compressed and ftype in (0, 1, 2):
            size = ftype + 1
            if len(content) % (3 * size):
                raise DecodeError(f"Polar PMD: raw acc frame type {ftype} of {len(content)} bytes is not whole samples")
            raw = np.frombuffer(content, np.uint8).reshape(-1, size).astype(np.int64) @ (256 ** np.arange(size))
            vals = _signed(raw, 8 * size).reshape(-1, 3).astype(np.float64)
        else:
            raise DecodeError(f"Polar PMD: acc frame type {ftype} ({'compressed' if compressed else 'raw'}) "
                              "is not supported")
    elif mtype == TYPE_GYRO:
        if compressed and ftype == 0:
            raw = parse_delta_frames(content, 3, RESOLUTION_BITS)
            _check_int16(raw)
            vals = raw * float(f)
        elif compressed and ftype == 1:
            raw = parse_delta_frames(content, 3, 32)
            floats = (raw & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
            vals = (floats * f if f != np.float32(1.0) else floats).astype(np.float64)
        else:
            raise DecodeError(f"Polar PMD: gyro frame type {ftype} ({'compressed' if compressed else 'raw'}) "
                              "is not supported")
    else:
        raise DecodeError(f"Polar PMD: measurement type {mtype} is not the accelerometer or the gyroscope")
    return PmdFrame(mtype, ts, ftype, compressed, np.asarray(vals, dtype=np.float64).reshape(-1, 3))


def _check_int16(raw: np.ndarray) -> None:
    if raw.size and (int(raw.min()) < -32768 or int(raw.max()) > 32767):
        raise DecodeError("Polar PMD: 16-bit samples overflow (deltas add up beyond the resolution)")


@dataclass
class PolarVerity(DeviceProfile):
    """Polar Verity Sense streaming acceleration and rotation over PMD, 52 Hz, ±8 g, ±2000 °/s.

    Samples: specific force (m/s², from the SDK's mG) and angular rate (rad/s, from °/s) in the
    sensor's frame, each with its device time (s since 2000-01-01 on the sensor's clock).

    Acc and gyro are separate PMD streams on the same clock at the same rate. :meth:`decode` keeps
    the samples of the stream that is ahead and emits a pair when both halves of an instant have
    arrived (device times within half a period; the pair's time is their mean). A batch never
    spans a gap left by dropped samples (the rest waits for the next frame), so the timing layer
    counts the gap as lost samples. A sample whose partner cannot come any more (the
    other stream has moved past it: a lost frame, or a stream that started later) is dropped and
    counted in :attr:`unpaired_acc` / :attr:`unpaired_gyr`, never paired with a neighbour. At most
    :attr:`max_held_s` of samples wait; older ones are dropped and counted the same way.

    The Polar H10 (no gyroscope) is recognised by its name and refused when connecting, as is any
    Polar sensor whose PMD feature bitmap has no gyroscope.

    Attributes
    ----------
    unpaired_acc, unpaired_gyr : int
        Samples dropped for want of a partner (since the profile was made).
    factors : dict
        ``{"acc": f, "gyr": f}`` as the start responses gave them (None before the first start).
    stopped_by_device : list[int]
        Measurement types the sensor reported as stopped on its own (control point ``01 …``).
    """

    unpaired_acc: int = field(default=0, init=False)
    unpaired_gyr: int = field(default=0, init=False)

    name: ClassVar[str] = "polar-verity"
    model: ClassVar[str] = "Polar Verity Sense"
    service_uuid: ClassVar[str] = PMD_SERVICE_UUID
    notify_uuid: ClassVar[str] = PMD_DATA_UUID
    write_uuid: ClassVar[str | None] = PMD_CONTROL_POINT_UUID
    write_with_response: ClassVar[bool] = True
    name_patterns: ClassVar[tuple[str, ...]] = (r"^Polar Sense\b", r"^Polar Verity\b", _H10_NAME.pattern)
    supported_rates_hz: ClassVar[tuple[float, ...]] = (STREAM_RATE_HZ,)
    default_rate_hz: ClassVar[float] = STREAM_RATE_HZ
    timing: ClassVar[str] = "device_time"
    timestamp_wrap_s: ClassVar[float | None] = None
    #: ±8 g / ±2000 °/s full scale; the factor-scaled values may end a little beyond it: 10 % margin.
    acc_range_m_s2: ClassVar[float] = 1.1 * ACC_RANGE_G * STANDARD_GRAVITY_M_S2
    gyr_range_rad_s: ClassVar[float] = 1.1 * GYR_RANGE_DPS * DEG_TO_RAD
    #: How long to wait for each start response (s, stream clock).
    reply_timeout_s: ClassVar[float] = 3.0
    #: Longest span of samples held for a partner (s).
    max_held_s: ClassVar[float] = 4.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.factors: dict[str, float | None] = {"acc": None, "gyr": None}
        self.stopped_by_device: list[int] = []
        self._held: dict[str, deque[tuple[float, np.ndarray]]] = {"acc": deque(), "gyr": deque()}
        self._prev_ts: dict[str, int | None] = {"acc": None, "gyr": None}
        self._ready: list[tuple[float, np.ndarray, np.ndarray]] = []

    # ------------------------------------------------------------------ commands
    def stream_settings(self, measurement_type: int) -> dict[int, int]:
        """The settings requested for a stream: 52 Hz, 16 bit, ±8 g or ±2000 °/s."""
        assert self.sample_rate_hz is not None
        rng = ACC_RANGE_G if measurement_type == TYPE_ACC else GYR_RANGE_DPS
        return {SETTING_SAMPLE_RATE: int(round(self.sample_rate_hz)), SETTING_RESOLUTION: RESOLUTION_BITS,
                SETTING_RANGE: rng}

    def start_commands(self) -> list[bytes]:
        return [start_command(t, self.stream_settings(t)) for t in (TYPE_ACC, TYPE_GYRO)]

    def stop_commands(self) -> list[bytes]:
        return [stop_command(TYPE_ACC), stop_command(TYPE_GYRO)]

    async def configure(self, link: ProfileLink) -> None:
        """Refuse an H10; read the PMD features (a gyroscope is required); enable control-point and
        data notifications; start the accelerometer, then the gyroscope, each taking its FACTOR from
        the start response.

        Raises
        ------
        BleError
            ``ProfileMismatchError`` for a Polar H10 or a sensor without gyroscope;
            ``ConnectionFailedError`` when a start response reports an error or does not come within
            :attr:`reply_timeout_s`.
        """
        self._reset_streams()
        self.factors = {"acc": None, "gyr": None}
        adv = link.advertised_name or ""
        if _H10_NAME.search(adv):
            raise ProfileMismatchError(
                f"{link.label}: '{adv}' is a Polar H10, which has only an accelerometer (no gyroscope), so it "
                "cannot give orientation or hip angles; use a Polar Verity Sense")
        features = await link.read(PMD_CONTROL_POINT_UUID)
        if len(features) >= 2 and not (features[1] & FEATURE_GYRO_BIT and features[1] & FEATURE_ACC_BIT):
            raise ProfileMismatchError(
                f"{link.label}: this Polar sensor ('{adv or 'unnamed'}') offers no "
                f"{'gyroscope' if features[1] & FEATURE_ACC_BIT else 'accelerometer or gyroscope'} stream "
                "(like the H10 or OH1, it has only an accelerometer), so it cannot give orientation or hip "
                "angles; use a Polar Verity Sense")
        await link.start_notify(PMD_CONTROL_POINT_UUID, self._on_control_point)
        await link.start_notify(self.notify_uuid)
        for mtype, key, what in ((TYPE_ACC, "acc", "accelerometer"), (TYPE_GYRO, "gyr", "gyroscope")):
            reply = await link.request(
                PMD_CONTROL_POINT_UUID, start_command(mtype, self.stream_settings(mtype)),
                reply_uuid=PMD_CONTROL_POINT_UUID, response=True,
                match=lambda d, t=mtype: len(d) >= 4 and d[0] == RESPONSE_CODE and d[1] == OP_START and d[2] == t,
                what=f"the {what} start request", timeout_s=self.reply_timeout_s)
            resp = parse_control_point_response(reply)
            if not resp.ok:
                why = STATUS_NAMES.get(resp.status, f"status {resp.status}")
                hint = ("unplug it from the charger" if resp.status == 13 else
                        "switch it off and on, make sure no other app is streaming from it (SDK mode, Polar "
                        "apps), and try again")
                raise ConnectionFailedError(
                    f"{link.label}: the {self.model} refused to start its {what} stream ({why}, status "
                    f"{resp.status}); {hint}")
            try:
                factor = factor_from_start_response(resp)
            except DecodeError as e:
                raise ConnectionFailedError(f"{link.label}: unreadable {what} start response from the "
                                            f"{self.model} ({e})") from None
            if factor is not None and not (math.isfinite(factor) and factor > 0):
                raise ConnectionFailedError(f"{link.label}: the {self.model} gave an unusable {what} "
                                            f"conversion factor ({factor!r})")
            self.factors[key] = 1.0 if factor is None else factor  # the SDK's default without FACTOR

    async def shutdown(self, link: ProfileLink) -> None:
        """Stop both streams (no wait for the responses), then notifications off."""
        for cmd in self.stop_commands():
            await link.write(PMD_CONTROL_POINT_UUID, cmd, response=True)
        await link.stop_notify(self.notify_uuid)
        await link.stop_notify(PMD_CONTROL_POINT_UUID)

    def _on_control_point(self, data: bytes) -> None:
        """Unsolicited control-point notifications: ``01 types…`` = streams stopped by the device."""
        if data and data[0] == MEASUREMENT_STOPPED:
            self.stopped_by_device.extend(b & 0x3F for b in data[1:])

    # ------------------------------------------------------------------ decoding
    def _reset_streams(self) -> None:
        """Forget held samples (counted as unpaired) and the previous frame timestamps."""
        self.unpaired_acc += len(self._held["acc"])
        self.unpaired_gyr += len(self._held["gyr"])
        for key in ("acc", "gyr"):
            self._held[key].clear()
            self._prev_ts[key] = None
        self._ready = []  # complete pairs not yet emitted: lost with the connection

    def _drop(self, key: str, n: int = 1) -> None:
        for _ in range(n):
            self._held[key].popleft()
        if key == "acc":
            self.unpaired_acc += n
        else:
            self.unpaired_gyr += n

    def decode(self, payload: bytes) -> SampleBatch:
        """Decode one PMD data frame; return the acc+gyro pairs it completes (often fewer samples
        than the frame holds, sometimes none).

        Raises :class:`DecodeError` for a malformed frame, a timestamp that does not advance (a
        jump back of more than 1 s is taken as a device clock restart: held samples are dropped and
        the frame is accepted), or values beyond the full scale / not finite. A rejected frame
        changes no state.
        """
        factors = self.factors
        data = bytes(payload)
        mtype = data[0] if data else -1
        key = "acc" if mtype == TYPE_ACC else "gyr"
        frame = decode_frame(data, factor=(factors[key] if factors[key] is not None else 1.0))
        if frame.measurement_type == TYPE_ACC:
            values = frame.values * (STANDARD_GRAVITY_M_S2 / 1000.0)
            lim = self.acc_range_m_s2
        else:
            values = frame.values * DEG_TO_RAD
            lim = self.gyr_range_rad_s
        if not np.all(np.isfinite(values)) or float(np.max(np.abs(values))) > lim * 1.001:
            raise DecodeError(f"Polar PMD: {key} value outside the sensor's range or not finite")
        assert self.sample_rate_hz is not None
        rate = float(self.sample_rate_hz)
        ts, n = frame.timestamp_ns, len(values)
        prev = self._prev_ts[key]
        restart = False
        if prev is not None and ts <= prev:
            if prev - ts <= CLOCK_RESTART_NS:
                raise DecodeError(f"Polar PMD: {key} frame timestamp {ts} does not advance (previous {prev})")
            restart, prev = True, None
        if prev is not None and abs((ts - prev) / n * rate / NS - 1.0) > PERIOD_TOLERANCE:
            prev = None  # a lost frame in between (or a gap): space by the nominal rate
        times = sample_times_ns(ts, n, rate, prev) / NS
        # ---- accepted: commit
        if restart:
            self._reset_streams()
        self._prev_ts[key] = ts
        held = self._held[key]
        if held and times[0] <= held[-1][0]:  # overlapping an earlier frame: keep the newest
            while held and held[-1][0] >= times[0]:
                held.pop()
                self._count(key, 1)
        held.extend(zip(times.tolist(), values, strict=True))
        self._pair(rate)
        ready = self._ready
        if not ready:
            return SampleBatch.empty()
        # A gap (pairs dropped for a lost frame) must fall between batches, where the timing layer
        # counts it: emit up to the first gap now and keep the rest for the next frame.
        gaps = np.flatnonzero(np.diff([r[0] for r in ready]) > 1.5 / rate) if len(ready) > 1 else []
        if len(gaps):
            ready, self._ready = ready[:gaps[0] + 1], ready[gaps[0] + 1:]
        else:
            self._ready = []
        n = len(ready)
        return self.check_plausible(SampleBatch(
            acc=np.asarray([r[1] for r in ready], dtype=np.float64).reshape(n, 3),
            gyr=np.asarray([r[2] for r in ready], dtype=np.float64).reshape(n, 3),
            device_time_s=np.asarray([r[0] for r in ready], dtype=np.float64)))

    def _count(self, key: str, n: int) -> None:
        if key == "acc":
            self.unpaired_acc += n
        else:
            self.unpaired_gyr += n

    def _pair(self, rate: float) -> None:
        """Move complete acc+gyro pairs to the ready list; drop samples whose partner cannot come."""
        tol = 0.5 / rate
        acc_q, gyr_q = self._held["acc"], self._held["gyr"]
        while acc_q and gyr_q:
            ta, tg = acc_q[0][0], gyr_q[0][0]
            if abs(ta - tg) < tol:
                self._ready.append((0.5 * (ta + tg), acc_q.popleft()[1], gyr_q.popleft()[1]))
            elif ta < tg:  # the gyro stream is past this instant: its half was lost
                self._drop("acc")
            else:
                self._drop("gyr")
        for key in ("acc", "gyr"):
            q = self._held[key]
            while q and q[-1][0] - q[0][0] > self.max_held_s:
                self._drop(key)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "acc_range_g": ACC_RANGE_G, "gyr_range_dps": GYR_RANGE_DPS,
                "acc_factor": self.factors["acc"], "gyr_factor": self.factors["gyr"],
                "unpaired_acc_samples": self.unpaired_acc, "unpaired_gyr_samples": self.unpaired_gyr}
