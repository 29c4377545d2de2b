"""Milestone detection on a recorded real lab boot (tests/fixtures/novalink/recorded-boot-ok) and on
failure lines."""

from __future__ import annotations

from pathlib import Path

from core.novalink.milestones import ORDER, LogLine, Milestone, Target, Tracker, parse_access_line

REC = Path(__file__).resolve().parents[2] / "fixtures" / "novalink" / "recorded-boot-ok"
TARGET = Target(
    mac="52:54:00:4e:4c:80", ip="10.250.77.80", boot_file="boot/grub/powerpc-ieee1275/core.elf",
    grub_cfg="boot/grub/grub.cfg-01-52-54-00-4e-4c-80", kernel="/export/novalink/novalink-lab/install/vmlinux",
    initrd="/export/novalink/novalink-lab/install/netboot_initrd.gz",
    configs=("/export/novalink-clients/nova0696010/pvm-install.cfg",
             "/export/novalink-clients/nova0696010/preseed.cfg"),
)


def lines(source, name, start=0.0):
    text = (REC / name).read_text(errors="replace")
    return [LogLine(source, t, start + i) for i, t in enumerate(text.splitlines())]


def test_recorded_boot_reaches_every_milestone_in_order():
    t = Tracker(TARGET)
    t.feed_all(lines("boot", "boot.log") + lines("console", "console.log", 100) + lines("http", "access.log", 700))
    assert t.fatal is None, t.fatal
    assert [m for m in ORDER if t.has(m)] == ORDER
    assert t.last is Milestone.CONFIG_FETCHED
    assert t.reached[Milestone.BOOTP_ANSWERED] < t.reached[Milestone.BOOT_FILE_SENT]


def test_another_partition_in_the_same_logs_is_ignored():
    other = Target(mac="52:54:00:4e:4c:81", ip="10.250.77.81", boot_file=TARGET.boot_file,
                   grub_cfg="boot/grub/grub.cfg-01-52-54-00-4e-4c-81", kernel=TARGET.kernel,
                   initrd=TARGET.initrd, configs=("/export/novalink-clients/nova0696011/pvm-install.cfg",))
    t = Tracker(other)
    t.feed_all(lines("boot", "boot.log") + lines("http", "access.log"))
    assert t.last is None and not t.reached


def test_access_line_parse():
    r = parse_access_line('10.250.77.80 - - [24/Nov/2026:22:41:42 +0000] "GET /x/vmlinux HTTP/1.1" 206 41276824 '
                          '"-" "GRUB 2.06"')
    assert r is not None and (r.client, r.path, r.status, r.size, r.agent) == (
        "10.250.77.80", "/x/vmlinux", 206, 41276824, "GRUB 2.06")
    assert parse_access_line("garbage") is None


def test_kernel_404_is_fatal_and_names_the_last_milestone():
    t = Tracker(TARGET)
    t.feed_all(lines("boot", "boot.log"))
    t.feed(LogLine("http", '10.250.77.80 - - [24/Nov/2026:22:41:08 +0000] "GET '
                   '/export/novalink/novalink-lab/install/vmlinux HTTP/1.1" 404 153 "-" "GRUB 2.06"', 40))
    assert t.fatal and "HTTP 404" in t.fatal
    msg = t.failure_message(Milestone.CONFIG_FETCHED)
    assert "last milestone reached: grub.cfg read" in msg and "vmlinux" in msg


def test_firmware_and_grub_errors_fail_fast():
    t = Tracker(TARGET)
    t.feed(LogLine("console", "E3001 (net) Could not get IP address", 5))
    assert t.fatal and "E3001" in t.fatal
    g = Tracker(TARGET)
    g.feed(LogLine("console", "error: file `/export/x/vmlinux' not found.", 9))
    assert g.fatal and g.fatal.startswith("GRUB failed")
    k = Tracker(TARGET)
    k.feed(LogLine("console", "[ 0.000000] Kernel command line: BOOT_IMAGE=/x", 9))
    k.feed(LogLine("console", "error: something the installer prints later", 10))
    assert k.fatal is None  # GRUB errors count only before the kernel started


def test_unknown_mac_hint_when_nothing_answered():
    t = Tracker(TARGET.__class__(**{**TARGET.__dict__, "mac": "52:54:00:4e:4c:98"}))
    t.feed(LogLine("boot", "Nov 24 22:50:01 dnsmasq-dhcp[3151]: 1 DHCPDISCOVER(eth0) 52:54:00:4e:4c:80 "
                   "no address available", 3))
    msg = t.failure_message(Milestone.CONFIG_FETCHED, waited=90)
    assert "last milestone reached: none" in msg and "52:54:00:4e:4c:80" in msg and "check the partition's MAC" in msg


def test_kernel_fetched_only_when_whole_file_read_if_size_known():
    sized = Target(**{**TARGET.__dict__, "kernel_size": 41753400, "initrd_size": 24223706})
    t = Tracker(sized)
    t.feed_all(lines("http", "access.log"))
    # recorded: 200 with 477576 bytes (ELF header), then 206 with the rest
    assert t.reached[Milestone.KERNEL_FETCHED] == 2
    assert t.reached[Milestone.INITRD_FETCHED] == 3
