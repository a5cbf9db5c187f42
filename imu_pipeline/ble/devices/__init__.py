"""Device families: one module per family, all behind :class:`~imu_pipeline.ble.profile.DeviceProfile`.

:func:`make_profile` builds a configured profile from a sensor config entry;
:func:`recognise` names the built-in family an advertisement belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imu_pipeline.ble.devices.generic import (
    GenericConfigError,
    GenericProfile,
    load_generic_spec,
)
from imu_pipeline.ble.devices.metamotion import MetaMotion
from imu_pipeline.ble.devices.movella_dot import MovellaDot
from imu_pipeline.ble.devices.movesense import MovesenseImu6
from imu_pipeline.ble.devices.polar import PolarVerity
from imu_pipeline.ble.devices.witmotion import WitMotionBle5
from imu_pipeline.ble.profile import Advertisement, DeviceProfile
from imu_pipeline.errors import ConfigError

#: Built-in families by profile name.
BUILTIN_PROFILES: dict[str, type[DeviceProfile]] = {
    WitMotionBle5.name: WitMotionBle5,
    MovesenseImu6.name: MovesenseImu6,
    MovellaDot.name: MovellaDot,
    MetaMotion.name: MetaMotion,
    PolarVerity.name: PolarVerity,
}
#: Accepted spellings of the built-in names.
ALIASES: dict[str, str] = {
    "witmotion-ble5": "witmotion", "wt901blecl": "witmotion", "wt9011dcl": "witmotion", "bwt901ble": "witmotion",
    "movesense-imu6": "movesense", "movesense-gsp": "movesense",
    "movella": "movella-dot", "xsens-dot": "movella-dot", "movella-dot-rate-quantities": "movella-dot",
    "metawear": "metamotion", "metamotion-s": "metamotion", "metamotion-rl": "metamotion", "mms": "metamotion",
    "mmrl": "metamotion",
    "polar": "polar-verity", "verity-sense": "polar-verity", "polar-verity-sense": "polar-verity",
    "polar-sense": "polar-verity",
}


class ProfileConfigError(ConfigError):
    """A sensor entry whose profile or options cannot be used."""


def profile_names() -> list[str]:
    """Names accepted by :func:`make_profile` (besides a generic ``*.toml`` file)."""
    return sorted(BUILTIN_PROFILES) + ["generic"]


def make_profile(name: str | None, sample_rate_hz: float | None = None,
                 options: Mapping[str, Any] | None = None, base_dir: str | Path | None = None) -> DeviceProfile:
    """Build a configured profile.

    Parameters
    ----------
    name
        ``"witmotion"``, ``"movesense"``, ``"generic"`` (with ``options["file"]``) or a path to a
        generic device ``.toml`` file.
    sample_rate_hz
        Requested output rate (Hz); ``None``: the family default.
    options
        Family options: Movesense ``reference`` (int); generic ``file`` (path).
        MetaMotion ``chip`` (``"bmi160"``/``"bmi270"``, default: from the module-info reply),
        ``acc_range_g`` (2/4/8/16), ``gyr_range_dps`` (125…2000).
    base_dir
        Relative generic file paths are resolved against this directory (the sensor
        config's folder), then against the working directory.

    Raises
    ------
    ProfileConfigError
        Unknown profile, unsupported rate or bad options, with the allowed values.
    """
    opts = dict(options or {})
    if name is None:
        raise ProfileConfigError("no profile given; use one of " + ", ".join(profile_names()))
    key = ALIASES.get(name.lower(), name.lower())
    try:
        if key.endswith(".toml") or key == "generic":
            file = name if key.endswith(".toml") else opts.pop("file", None)
            if not file:
                raise ProfileConfigError("profile 'generic' needs options.file = \"configs/generic-....toml\"")
            path = Path(file)
            if not path.is_absolute() and base_dir is not None and (Path(base_dir) / path).exists():
                path = Path(base_dir) / path
            spec = load_generic_spec(path)
            if opts:
                raise ProfileConfigError(f"generic profile: unknown option(s) {sorted(opts)}")
            return GenericProfile(sample_rate_hz=sample_rate_hz, spec=spec)
        cls = BUILTIN_PROFILES.get(key)
        if cls is None:
            raise ProfileConfigError(f"unknown profile {name!r}; use one of {', '.join(profile_names())} "
                                     "or the path of a generic device .toml file")
        if cls is MovesenseImu6:
            unknown = set(opts) - {"reference"}
            if unknown:
                raise ProfileConfigError(f"movesense: unknown option(s) {sorted(unknown)}; known: reference")
            return MovesenseImu6(sample_rate_hz=sample_rate_hz, **opts)
        if cls is MetaMotion:
            unknown = set(opts) - {"chip", "acc_range_g", "gyr_range_dps"}
            if unknown:
                raise ProfileConfigError(f"metamotion: unknown option(s) {sorted(unknown)}; "
                                         "known: chip, acc_range_g, gyr_range_dps")
            return MetaMotion(sample_rate_hz=sample_rate_hz, **opts)
        if opts:
            raise ProfileConfigError(f"{key}: this profile takes no options (got {sorted(opts)})")
        return cls(sample_rate_hz=sample_rate_hz)
    except (GenericConfigError, ValueError, TypeError) as e:
        if isinstance(e, ProfileConfigError):
            raise
        raise ProfileConfigError(str(e)) from None


def recognise(adv: Advertisement, candidates: list[DeviceProfile] | None = None) -> str | None:
    """Name of the family that recognises an advertisement (built-ins plus ``candidates``), or None."""
    profiles: list[DeviceProfile] = list(candidates or [])
    for cls in BUILTIN_PROFILES.values():
        profiles.append(cls())
    for p in profiles:
        if p.recognises(adv):
            return p.name
    return None


__all__ = ["BUILTIN_PROFILES", "GenericConfigError", "GenericProfile", "MovesenseImu6", "ProfileConfigError",
           "WitMotionBle5", "make_profile", "profile_names", "recognise"]
