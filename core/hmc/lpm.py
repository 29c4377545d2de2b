"""LPM readiness of vNIC backing devices: SR-IOV port labels/sublabels aligned between source and target."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from core.hmc.models import SriovPhysPort, Vnic


@dataclass(frozen=True)
class LabelCheck:
    slot: int
    logical_port_id: str
    source_port: str  # "adapter/port"
    label: str
    sub_label: str
    target_ports: tuple[str, ...]
    status: str  # aligned | no-label | no-match | sublabel-differs | not-enough-ports
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == "aligned"


def check_labels(vnics: list[Vnic], source: list[SriovPhysPort], target: list[SriovPhysPort]) -> list[LabelCheck]:
    src = {(p.adapter_id, p.phys_port_id): p for p in source}
    need: Counter[tuple[str, str]] = Counter()
    out: list[LabelCheck] = []
    for v in vnics:
        for d in v.backing_devices:
            p = src.get((d.adapter_id, d.phys_port_id))
            sp = f"{d.adapter_id}/{d.phys_port_id}"
            if p is None:
                out.append(LabelCheck(v.slot_num, d.logical_port_id, sp, "", "", (), "no-match",
                                      "source physical port not listed by lshwres"))
                continue
            if not p.label:
                out.append(LabelCheck(v.slot_num, d.logical_port_id, sp, "", p.sub_label, (), "no-label",
                                      f"set phys_port_label on source port {sp} ({p.phys_port_loc}) and on the "
                                      "matching target port"))
                continue
            same = tuple(f"{t.adapter_id}/{t.phys_port_id}" for t in target
                         if t.label == p.label and t.sub_label == p.sub_label)
            label_only = tuple(f"{t.adapter_id}/{t.phys_port_id}" for t in target if t.label == p.label)
            if same:
                need[(p.label, p.sub_label)] += 1
                out.append(LabelCheck(v.slot_num, d.logical_port_id, sp, p.label, p.sub_label, same, "aligned",
                                      f"target port(s) {', '.join(same)} carry label {p.label}/{p.sub_label}"))
            elif label_only:
                out.append(LabelCheck(v.slot_num, d.logical_port_id, sp, p.label, p.sub_label, label_only,
                                      "sublabel-differs", f"target port(s) {', '.join(label_only)} have label "
                                      f"{p.label} but another sublabel than {p.sub_label!r}"))
            else:
                out.append(LabelCheck(v.slot_num, d.logical_port_id, sp, p.label, p.sub_label, (), "no-match",
                                      f"no target port labelled {p.label}: label the target port wired to the "
                                      "same network"))
    # every backing device needs its own target port: count ports per label
    avail = Counter((t.label, t.sub_label) for t in target)
    final = []
    for c in out:
        key = (c.label, c.sub_label)
        if c.status == "aligned" and need[key] > avail[key]:
            final.append(LabelCheck(c.slot, c.logical_port_id, c.source_port, c.label, c.sub_label,
                                    c.target_ports, "not-enough-ports",
                                    f"{need[key]} backing devices use label {c.label}/{c.sub_label} but the target "
                                    f"has {avail[key]} such port(s)"))
        else:
            final.append(c)
    return final
