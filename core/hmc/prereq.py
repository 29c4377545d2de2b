"""Prerequisites of SR-IOV vNIC failover (source material: HMC V8R8.6.0 with fixes, firmware 860, VIOS level,
SR-IOV adapters in shared mode), as a table of pass/fail items with what to do about each failure."""

from __future__ import annotations

from dataclasses import dataclass

from core.hmc.models import FirmwareLevel, HmcVersion, IosLevel, SriovAdapter

MIN_HMC = (8, 8, 6)
MIN_FIRMWARE = 860
MIN_IOSLEVEL = (2, 2, 5, 0)


@dataclass(frozen=True)
class CheckItem:
    item: str
    target: str
    found: str
    passed: bool
    remedy: str


def _fmt(t: tuple[int, ...]) -> str:
    return ".".join(str(x) for x in t)


REQUIRED_FIXES = {(8, 8, 6, 0): ("MH01655",)}  # V8R8.6.0 SP0 needs its required fix (source material)


def check_hmc(v: HmcVersion, minimum: tuple[int, int, int] = MIN_HMC) -> CheckItem:
    found = v.label + (f" (fixes {', '.join(v.fixes)})" if v.fixes else "")
    target = f">= V{minimum[0]}R{minimum[1]}.{minimum[2]}.0 with required fixes"
    if v.vrm < minimum:
        return CheckItem("HMC version", target, found, False,
                         "update the HMC to V8R8.6.0 or later and install the required fixes (e.g. MH01655)")
    missing = [f for f in REQUIRED_FIXES.get((*v.vrm, v.service_pack), ()) if f not in v.fixes]
    if missing:
        return CheckItem("HMC version", target, found, False,
                         f"install the required HMC fix(es) {', '.join(missing)} (updhmc), then re-check lshmc -V")
    return CheckItem("HMC version", target, found, True, "")


def check_firmware(system: str, fw: FirmwareLevel, minimum: int = MIN_FIRMWARE) -> CheckItem:
    rel = fw.release
    ok = rel is not None and rel >= minimum
    return CheckItem(f"firmware of {system}", f">= FW{minimum}",
                     f"{fw.activated_spname} (level {fw.activated_level})", ok,
                     "" if ok else f"update the system firmware to FW{minimum} or later (updlic), then check with "
                                   "lslic -F activated_level,activated_spname")


def check_vios(name: str, level: IosLevel | None, error: str = "",
               minimum: tuple[int, ...] = MIN_IOSLEVEL) -> CheckItem:
    if level is None:
        return CheckItem(f"VIOS {name} level", f">= {_fmt(minimum)}", f"unknown ({error})", False,
                         f"make VIOS {name} reachable (SSH as padmin) and run ioslevel")
    ok = level.parts >= minimum
    return CheckItem(f"VIOS {name} level", f">= {_fmt(minimum)}", level.level, ok,
                     "" if ok else f"update VIOS {name} (updateios) to {_fmt(minimum)} or later")


def check_adapters(adapters: list[SriovAdapter]) -> list[CheckItem]:
    if not adapters:
        return [CheckItem("SR-IOV adapters", "at least one in shared mode", "none", False,
                          "install an SR-IOV capable adapter and switch it to shared mode")]
    out = []
    for a in adapters:
        ok = a.shared_mode and a.functional_state == 1
        found = f"config_state={a.config_state}, functional_state={a.functional_state}"
        remedy = ""
        if not a.shared_mode:
            remedy = (f"switch adapter {a.adapter_id} to shared mode: chhwres -r sriov -m <system> "
                      f"--rsubtype adapter -o a -a \"adapter_id={a.adapter_id}\" (the adapter must be unassigned)")
        elif a.functional_state != 1:
            remedy = f"adapter {a.adapter_id} is not functional: check lssvcevents and the adapter firmware"
        out.append(CheckItem(f"SR-IOV adapter {a.adapter_id} ({a.phys_loc})", "shared mode, functional", found,
                             ok, remedy))
    return out
