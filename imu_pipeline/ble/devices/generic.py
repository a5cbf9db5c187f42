"""A profile configured in TOML, for your own firmware (Arduino Nano 33 BLE, ESP32, ...).

The packet is an optional *header* struct followed by ``samples_per_packet`` *sample*
structs (Python :mod:`struct` format strings; the first character sets the byte order,
``<`` little-endian, ``>`` big-endian). Each struct field is named:

* ``acc_x``, ``acc_y``, ``acc_z``, ``gyr_x``, ``gyr_y``, ``gyr_z`` — sample fields (required),
* ``counter`` — a sequence counter (header or sample), wrapping at the field's integer range,
* ``timestamp`` — a device timestamp (per sample, or in the header for the first sample),
* ``_`` — ignored.

Scale factors convert raw numbers to SI: ``acc_scale`` (m/s² per count), ``gyr_scale``
(rad/s per count), ``timestamp_scale`` (s per count). See ``configs/generic-arduino-nano33.toml``
and ``docs/sensors.md``.
"""

from __future__ import annotations

import math
import re
import struct
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imu_pipeline.ble.profile import (
    DecodeError,
    DeviceProfile,
    SampleBatch,
    normalise_uuid,
)
from imu_pipeline.errors import ConfigError

SAMPLE_FIELDS = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
KNOWN_FIELDS = set(SAMPLE_FIELDS) | {"counter", "timestamp", "_"}
_INT_RANGES = {"b": 8, "B": 8, "h": 16, "H": 16, "i": 32, "I": 32, "l": 32, "L": 32, "q": 64, "Q": 64}
_KEYS = {"name", "model", "match_names", "advertised_services", "manufacturer_ids", "service_uuid", "notify_uuid",
         "write_uuid",
         "write_with_response", "start_command", "stop_command", "rate_commands", "header", "header_fields",
         "sample", "sample_fields", "samples_per_packet", "acc_scale", "gyr_scale", "timestamp_scale",
         "counter_unit", "acc_range", "gyr_range", "sample_rate_hz", "timestamp_wrap"}


class GenericConfigError(ConfigError):
    """A generic device description that cannot work; the message names the key."""


@dataclass
class GenericSpec:
    """Parsed and validated ``[device]`` table of a generic profile TOML file."""

    name: str
    model: str
    service_uuid: str
    notify_uuid: str
    write_uuid: str | None
    write_with_response: bool
    start_command: bytes | None
    stop_command: bytes | None
    rate_commands: dict[float, bytes]
    header: struct.Struct | None
    header_fields: tuple[str, ...]
    sample: struct.Struct
    sample_fields: tuple[str, ...]
    samples_per_packet: int
    acc_scale: float
    gyr_scale: float
    timestamp_scale: float
    counter_unit: str
    acc_range: float
    gyr_range: float
    default_rate_hz: float
    match_names: tuple[str, ...] = ()
    advertised_services: tuple[str, ...] = ()
    manufacturer_ids: tuple[int, ...] = ()
    counter_modulus: int | None = None
    timestamp_wrap_s: float | None = None
    source: str = "<dict>"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def packet_size(self) -> int:
        return (self.header.size if self.header else 0) + self.sample.size * self.samples_per_packet


def _hex(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise GenericConfigError(f"{where}: expected a hex string like \"01 ff\", got {value!r}")
    try:
        return bytes.fromhex(value.replace(":", " "))
    except ValueError:
        raise GenericConfigError(f"{where}: {value!r} is not hex bytes (e.g. \"01 ff\")") from None


def _struct(fmt: Any, names: Any, where: str) -> tuple[struct.Struct, tuple[str, ...]]:
    if not isinstance(fmt, str) or not fmt or fmt[0] not in "<>!":
        raise GenericConfigError(f"{where}: expected a struct format starting with '<' (little-endian) or '>' "
                                 f"(big-endian), e.g. \"<hhhhhh\", got {fmt!r}")
    try:
        st = struct.Struct(fmt)
    except struct.error as e:
        raise GenericConfigError(f"{where}: {fmt!r} is not a struct format ({e})") from None
    codes = re.findall(r"(\d*)([xcbB?hHiIlLqQefd])", fmt[1:])
    n_values = sum(int(c or 1) for c, t in codes if t != "x")
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise GenericConfigError(f"{where}_fields: expected a list of field names")
    if len(names) != n_values:
        raise GenericConfigError(f"{where}_fields: {len(names)} names for {n_values} values in {fmt!r}")
    bad = [x for x in names if x not in KNOWN_FIELDS]
    if bad:
        raise GenericConfigError(f"{where}_fields: unknown field(s) {bad}; known: {', '.join(sorted(KNOWN_FIELDS))}")
    return st, tuple(names)


def _field_bits(fmt: str, names: tuple[str, ...], which: str) -> int | None:
    """Integer width (bits) of field ``which`` in ``fmt``, or None when it is not an integer."""
    types = []
    for count, t in re.findall(r"(\d*)([xcbB?hHiIlLqQefd])", fmt[1:]):
        if t != "x":
            types.extend([t] * int(count or 1))
    if which not in names:
        return None
    return _INT_RANGES.get(types[names.index(which)])


def spec_from_dict(d: Mapping[str, Any], source: str = "<dict>") -> GenericSpec:
    """Validate a ``[device]`` table; raises :class:`GenericConfigError` naming the bad key."""
    where = f"{source}: device"
    unknown = set(d) - _KEYS
    if unknown:
        raise GenericConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {', '.join(sorted(_KEYS))}")
    for key in ("service_uuid", "notify_uuid", "sample", "sample_fields", "acc_scale", "gyr_scale", "sample_rate_hz"):
        if key not in d:
            raise GenericConfigError(f"{where}.{key}: missing")
    try:
        service = normalise_uuid(d["service_uuid"])
        notify = normalise_uuid(d["notify_uuid"])
        write = normalise_uuid(d["write_uuid"]) if d.get("write_uuid") else None
        adv_services = tuple(normalise_uuid(u) for u in d.get("advertised_services", []))
    except ValueError as e:
        raise GenericConfigError(f"{where}: {e}") from None
    sample, sample_fields = _struct(d["sample"], d["sample_fields"], f"{where}.sample")
    missing = [f for f in SAMPLE_FIELDS if f not in sample_fields]
    if missing:
        raise GenericConfigError(f"{where}.sample_fields: missing {missing}; every sample needs acc_x..gyr_z")
    header, header_fields = None, ()
    if d.get("header"):
        header, header_fields = _struct(d["header"], d.get("header_fields", []), f"{where}.header")
        if any(f in SAMPLE_FIELDS for f in header_fields):
            raise GenericConfigError(f"{where}.header_fields: acc/gyr fields belong in sample_fields")
    counter_in = [w for w, names in (("header", header_fields), ("sample", sample_fields)) if "counter" in names]
    if len(counter_in) > 1:
        raise GenericConfigError(f"{where}: 'counter' may appear in the header or the sample, not both")
    modulus = None
    if counter_in:
        fmt = d["header"] if counter_in[0] == "header" else d["sample"]
        names = header_fields if counter_in[0] == "header" else sample_fields
        bits = _field_bits(fmt, names, "counter")
        if bits is None:
            raise GenericConfigError(f"{where}: the counter field must be an integer type")
        modulus = 2**bits
    spp = d.get("samples_per_packet", 1)
    if isinstance(spp, bool) or not isinstance(spp, int) or spp < 1:
        raise GenericConfigError(f"{where}.samples_per_packet: expected a positive integer, got {spp!r}")
    nums = {}
    for key, default in (("acc_scale", None), ("gyr_scale", None), ("timestamp_scale", 1.0),
                         ("acc_range", 16 * 9.80665), ("gyr_range", 2000 * math.pi / 180), ("sample_rate_hz", None)):
        v = d.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise GenericConfigError(f"{where}.{key}: expected a positive number, got {v!r}")
        nums[key] = float(v)
    unit = d.get("counter_unit", "packet")
    if unit not in ("packet", "sample"):
        raise GenericConfigError(f"{where}.counter_unit: expected 'packet' or 'sample', got {unit!r}")
    rate_cmds: dict[float, bytes] = {}
    rc = d.get("rate_commands", {})
    if not isinstance(rc, Mapping):
        raise GenericConfigError(f"{where}.rate_commands: expected a table like {{\"100\" = \"02 64\"}}")
    for k, v in rc.items():
        try:
            rate = float(k)
        except ValueError:
            raise GenericConfigError(f"{where}.rate_commands: key {k!r} is not a rate in Hz") from None
        rate_cmds[rate] = _hex(v, f"{where}.rate_commands.{k}")
    wrap = d.get("timestamp_wrap")
    ts_bits = _field_bits(d["sample"], sample_fields, "timestamp") or (
        _field_bits(d["header"], header_fields, "timestamp") if header else None)
    wrap_s = float(wrap) if wrap is not None else (2.0**ts_bits * nums["timestamp_scale"] if ts_bits else None)
    names = d.get("match_names", [])
    if not isinstance(names, list):
        raise GenericConfigError(f"{where}.match_names: expected a list of name prefixes")
    manu = d.get("manufacturer_ids", [])
    if not isinstance(manu, list) or not all(isinstance(m, int) and 0 <= m <= 0xFFFF for m in manu):
        raise GenericConfigError(f"{where}.manufacturer_ids: expected a list of 16-bit company identifiers")
    return GenericSpec(
        name=str(d.get("name", "generic")), model=str(d.get("model", d.get("name", "generic BLE IMU"))),
        service_uuid=service, notify_uuid=notify, write_uuid=write,
        write_with_response=bool(d.get("write_with_response", True)),
        start_command=_hex(d["start_command"], f"{where}.start_command") if d.get("start_command") else None,
        stop_command=_hex(d["stop_command"], f"{where}.stop_command") if d.get("stop_command") else None,
        rate_commands=rate_cmds, header=header, header_fields=header_fields, sample=sample,
        sample_fields=sample_fields, samples_per_packet=spp, acc_scale=nums["acc_scale"],
        gyr_scale=nums["gyr_scale"], timestamp_scale=nums["timestamp_scale"], counter_unit=unit,
        acc_range=nums["acc_range"], gyr_range=nums["gyr_range"], default_rate_hz=nums["sample_rate_hz"],
        match_names=tuple(str(n) for n in names), advertised_services=adv_services,
        manufacturer_ids=tuple(manu),
        counter_modulus=modulus, timestamp_wrap_s=wrap_s, source=source)


def load_generic_spec(path: str | Path) -> GenericSpec:
    """Read a generic device TOML file (a ``[device]`` table)."""
    p = Path(path)
    if not p.exists():
        raise GenericConfigError(f"{p}: no such generic device file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise GenericConfigError(f"{p}: not valid TOML ({e})") from None
    if not isinstance(data.get("device"), dict):
        raise GenericConfigError(f"{p}: expected a [device] table")
    return spec_from_dict(data["device"], str(p))


@dataclass
class GenericProfile(DeviceProfile):
    """A device described by a :class:`GenericSpec` (no code needed for custom firmware).

    Parameters
    ----------
    spec
        The validated description (see :func:`load_generic_spec`).
    sample_rate_hz
        Requested rate; must have a ``rate_commands`` entry when that table is given,
        otherwise it must equal the spec's ``sample_rate_hz``.
    """

    spec: GenericSpec | None = None

    def __post_init__(self) -> None:
        if self.spec is None:
            raise ValueError("GenericProfile needs a spec (load it with load_generic_spec)")
        s = self.spec
        # instance attributes shadow the class-level defaults of DeviceProfile
        self.name = s.name  # type: ignore[misc]
        self.model = s.model  # type: ignore[misc]
        self.service_uuid = s.service_uuid  # type: ignore[misc]
        self.notify_uuid = s.notify_uuid  # type: ignore[misc]
        self.write_uuid = s.write_uuid  # type: ignore[misc]
        self.write_with_response = s.write_with_response  # type: ignore[misc]
        self.name_patterns = tuple("^" + re.escape(n) for n in s.match_names)  # type: ignore[misc]
        self.advertised_services = s.advertised_services  # type: ignore[misc]
        self.manufacturer_ids = s.manufacturer_ids  # type: ignore[misc]
        self.default_rate_hz = s.default_rate_hz  # type: ignore[misc]
        self.supported_rates_hz = tuple(s.rate_commands) or (s.default_rate_hz,)  # type: ignore[misc]
        has_ts = "timestamp" in s.sample_fields or "timestamp" in s.header_fields
        self.timing = "device_time" if has_ts else ("counter" if s.counter_modulus else "nominal")  # type: ignore[misc]
        self.counter_modulus = s.counter_modulus  # type: ignore[misc]
        self.counter_unit = s.counter_unit  # type: ignore[misc]
        self.timestamp_wrap_s = s.timestamp_wrap_s  # type: ignore[misc]
        self.acc_range_m_s2 = s.acc_range  # type: ignore[misc]
        self.gyr_range_rad_s = s.gyr_range  # type: ignore[misc]
        super().__post_init__()

    def start_commands(self) -> list[bytes]:
        assert self.spec is not None
        cmds = []
        if self.spec.rate_commands:
            cmds.append(self.spec.rate_commands[float(self.sample_rate_hz or 0)])
        if self.spec.start_command:
            cmds.append(self.spec.start_command)
        return cmds

    def stop_commands(self) -> list[bytes]:
        assert self.spec is not None
        return [self.spec.stop_command] if self.spec.stop_command else []

    def decode(self, payload: bytes) -> SampleBatch:
        """Unpack header + samples; scale to SI; reject wrong lengths and implausible values."""
        s = self.spec
        assert s is not None
        data = bytes(payload)
        if len(data) != s.packet_size:
            raise DecodeError(f"{s.name}: payload of {len(data)} bytes; expected {s.packet_size}")
        head: dict[str, float] = {}
        off = 0
        if s.header is not None:
            head = {k: v for k, v in zip(s.header_fields, s.header.unpack_from(data, 0), strict=True) if k != "_"}
            off = s.header.size
        rows = [s.sample.unpack_from(data, off + i * s.sample.size) for i in range(s.samples_per_packet)]
        arr = np.asarray(rows, dtype=np.float64)
        col = {name: i for i, name in enumerate(s.sample_fields) if name != "_"}
        acc = arr[:, [col["acc_x"], col["acc_y"], col["acc_z"]]] * s.acc_scale
        gyr = arr[:, [col["gyr_x"], col["gyr_y"], col["gyr_z"]]] * s.gyr_scale
        t = None
        if "timestamp" in col:
            t = arr[:, col["timestamp"]] * s.timestamp_scale
        elif "timestamp" in head:
            t = head["timestamp"] * s.timestamp_scale + np.arange(len(rows)) / float(self.sample_rate_hz or 1)
        counter = None
        if "counter" in head:
            counter = int(head["counter"])
        elif "counter" in col:
            counter = int(arr[0, col["counter"]])
        return self.check_plausible(SampleBatch(acc=acc, gyr=gyr, device_time_s=t, counter=counter))

    def describe(self) -> dict[str, object]:
        assert self.spec is not None
        return {**super().describe(), "profile_file": self.spec.source}
