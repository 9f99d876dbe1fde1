#!/usr/bin/python3
"""valgrind memcheck over espnat and espnatd: no invalid access, no use of
uninitialised memory, no definite or indirect leak.

  valgrind_test.py pcap   BUILD_DIR SOURCE_DIR VALGRIND
  valgrind_test.py daemon BUILD_DIR SOURCE_DIR VALGRIND

pcap: `espnat pcap` over the bundled captures as `./run-demo --pcap` runs
it (examples/register protected then unprotected again, examples/nat with
--show-table and --silent-after) with --wireshark-sa, --stats-json and -v;
its error paths (truncated and garbage captures, a bad and a missing SA
file, unwritable outputs, wrong usage); then test/cli/pcap_cli.py (hostile
and odd captures, every link type) with espnat run under valgrind.

daemon (root): two namespaces; espnatd under valgrind on one side, a plain
espnatd on the other. Round 1: the P-CSCF under valgrind on the NFQUEUE
path; round 2: the UE under valgrind on the TUN path, with NAT keepalives
every second. Each round: a registration (UDP-enc-tun, aes-cbc,
hmac-sha-1-96), UDP both ways, TCP, the control requests (lists, tables,
stats, events, bad requests, an SA added and removed, a re-keying), the
`espnat` client itself under valgrind for some of them, and SIGTERM.

Every valgrind run uses --error-exitcode=99 --leak-check=full
--errors-for-leak-kinds=definite,indirect and writes its log; any error
fails the test and the log's error summary is printed."""
import glob
import os
import subprocess
import sys
import tempfile
import time

MODE = sys.argv[1]
BUILD = os.path.abspath(sys.argv[2])
SRC = os.path.abspath(sys.argv[3])
VALGRIND = sys.argv[4]
ESPNAT = os.path.join(BUILD, "tools", "espnat")
ESPNATD = os.path.join(BUILD, "tools", "espnatd")
sys.path.insert(0, os.path.join(SRC, "test", "netns"))
import netns  # noqa: E402
from netns import check  # noqa: E402

LOGDIR = tempfile.mkdtemp(prefix="espnat-valgrind-")
VG = [VALGRIND, "-q", "--error-exitcode=99", "--leak-check=full",
      "--errors-for-leak-kinds=definite,indirect", "--track-origins=yes",
      "--num-callers=30"]
runs = []      # (what, log file, exit status)


def vg_cmd(tag):
    log = os.path.join(LOGDIR, f"{len(runs):03d}-{tag}.%p.log")
    return VG + [f"--log-file={log}"], log


def vg_run(tag, *args, expect=0, timeout=300):
    pre, log = vg_cmd(tag)
    r = subprocess.run(pre + list(args), capture_output=True, text=True, timeout=timeout)
    runs.append((tag, log, r.returncode))
    if r.returncode != expect:
        print(f"      {tag}: exit {r.returncode}, expected {expect}: {r.stderr.strip()[-300:]}")
    return r


def logs_of(pattern):
    return sorted(glob.glob(pattern.replace("%p", "*")))


def report(files):
    """Errors and leak summaries found in valgrind logs (-q: a clean run
    writes nothing)."""
    bad = []
    for f in files:
        text = open(f, errors="replace").read()
        if text.strip():
            bad.append((f, text))
    return bad


def summarize(tag_files):
    bad = report(tag_files)
    for f, text in bad[:5]:
        print(f"---- {os.path.basename(f)}")
        print("\n".join(text.splitlines()[:80]))
    return bad


def pcap_mode():
    out = tempfile.mkdtemp(prefix="espnat-vg-pcap-")
    reg, nat = os.path.join(SRC, "examples", "register"), os.path.join(SRC, "examples", "nat")
    t0 = time.monotonic()
    # ./run-demo --pcap, with every output option
    r = vg_run("register-protect", ESPNAT, "pcap", "--sa", f"{reg}/registration.sa",
               "--in", f"{reg}/sip-plain.pcap", "--out", f"{out}/sip-esp.pcap", "-v",
               "--wireshark-sa", f"{out}/esp_sa", "--stats-json", f"{out}/protect.json",
               "--show-table")
    check(r.returncode == 0 and "3 encap" in r.stdout, "examples/register protected under valgrind")
    r = vg_run("register-unprotect", ESPNAT, "pcap", "--sa", f"{reg}/registration.sa",
               "--in", f"{out}/sip-esp.pcap", "--out", f"{out}/sip-decrypted.pcap", "-v",
               "--stats-json", "-")
    check(r.returncode == 0 and '"decap":3' in r.stdout, "and unprotected again, stats JSON on stdout")
    r = vg_run("nat", ESPNAT, "pcap", "--sa", f"{nat}/pcscf.sa", "--in", f"{nat}/pcscf-side.pcap",
               "--out", f"{out}/pcscf-out.pcap", "-v", "--show-table", "--silent-after", "60",
               "--stats-json", f"{out}/nat.json", "--wireshark-sa", f"{out}/esp_sa2")
    check(r.returncode == 0 and "event silent" in r.stdout, "examples/nat with --show-table --silent-after")
    r = vg_run("nat-quiet", ESPNAT, "pcap", "--sa", f"{nat}/ue.sa", "--in", f"{nat}/pcscf-side.pcap",
               "--out", f"{out}/ue-out.pcap", "-q")
    check(r.returncode == 0, "examples/nat with the UE's SAs, -q")
    # error paths
    data = open(f"{nat}/pcscf-side.pcap", "rb").read()
    open(f"{out}/trunc.pcap", "wb").write(data[:300])
    open(f"{out}/garbage.pcap", "wb").write(os.urandom(1000))
    open(f"{out}/header-only.pcap", "wb").write(data[:24])
    open(f"{out}/bad.sa", "w").write("src 1.2.3.4 dst 5.6.7.8 proto esp spi 0x1000 enc cbc(aes) 0x00\n")
    sa, inp = f"{nat}/pcscf.sa", f"{nat}/pcscf-side.pcap"
    errors = [
        ("truncated", ["--sa", sa, "--in", f"{out}/trunc.pcap", "--out", f"{out}/o.pcap"], 1),
        ("garbage", ["--sa", sa, "--in", f"{out}/garbage.pcap", "--out", f"{out}/o.pcap"], 1),
        ("header-only", ["--sa", sa, "--in", f"{out}/header-only.pcap", "--out", f"{out}/o.pcap",
                         "--stats-json", f"{out}/empty.json"], 0),
        ("bad-sa", ["--sa", f"{out}/bad.sa", "--in", inp, "--out", f"{out}/o.pcap"], 1),
        ("missing-sa", ["--sa", f"{out}/nope.sa", "--in", inp, "--out", f"{out}/o.pcap"], 1),
        ("missing-in", ["--sa", sa, "--in", f"{out}/nope.pcap", "--out", f"{out}/o.pcap"], 1),
        ("unwritable-out", ["--sa", sa, "--in", inp, "--out", "/nonexistent/o.pcap"], 1),
        ("unwritable-ws", ["--sa", sa, "--in", inp, "--out", f"{out}/o.pcap",
                           "--wireshark-sa", "/nonexistent/esp_sa"], 1),
        ("unwritable-json", ["--sa", sa, "--in", inp, "--out", f"{out}/o.pcap",
                             "--stats-json", "/nonexistent/s.json"], 1),
        ("no-out", ["--sa", sa, "--in", inp], 2),
        ("bogus-option", ["--bogus"], 2),
        ("bad-silent-after", ["--sa", sa, "--in", inp, "--out", f"{out}/o.pcap",
                              "--silent-after", "x"], 2),
    ]
    wrong = []
    for tag, args, expect in errors:
        r = vg_run(tag, ESPNAT, "pcap", *args, expect=expect)
        if r.returncode != expect:
            wrong.append((tag, r.returncode))
    check(not wrong, f"{len(errors)} error paths exit as documented under valgrind {wrong}")
    # the CLI test suite, with espnat under valgrind
    wrapper = os.path.join(out, "espnat-vg")
    pre, log = vg_cmd("pcap_cli")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec " + " ".join(f"'{x}'" for x in pre + [ESPNAT]) + ' "$@"\n')
    os.chmod(wrapper, 0o755)
    cli = os.path.join(SRC, "test", "cli", "pcap_cli.py")
    r = subprocess.run([sys.executable, cli, wrapper], capture_output=True, text=True, timeout=1200)
    runs.append(("pcap_cli", log, r.returncode))
    n = len(logs_of(log))
    check(r.returncode == 0, f"test/cli/pcap_cli.py passes with espnat under valgrind ({n} runs)"
          + ("" if r.returncode == 0 else "\n" + (r.stdout + r.stderr)[-1500:]))
    bad = summarize([f for _, log, _ in runs for f in logs_of(log)])
    total = sum(len(logs_of(log)) for _, log, _ in runs)
    check(total >= 20 and not bad, f"valgrind: {total} runs of espnat, {len(bad)} with errors or leaks")
    print(f"valgrind pcap: {total} runs of espnat in {time.monotonic() - t0:.0f} s, "
          f"{len(bad)} with errors or definite/indirect leaks")
    subprocess.run(["rm", "-rf", out])


# ---- the daemon ----

PC4, UE4 = "10.44.0.1", "10.44.0.2"
UE_PORTS, PC_PORTS = (5062, 5064), (5066, 5068)
UE_PROTECTED, PC_PROTECTED = (5062, 5063, 5064), (5066, 5067, 5068)    # 5063, 5067: re-keying


def daemon_round(vg_role):
    """vg_role: 'pcscf' (NFQUEUE under valgrind) or 'ue' (TUN under valgrind)."""
    from netns import Daemon, Lab, reg_words, tcp_exchange, udp_exchange, ctl_raw
    lab = Lab("vg")
    tag = f"valgrind {vg_role}"
    t0 = time.monotonic()
    try:
        pc, ue = lab.ns("pc"), lab.ns("ue")
        lab.veth(pc, "vpc", PC4 + "/24", ue, "vue", UE4 + "/24")
        pre, log = vg_cmd(f"espnatd-{vg_role}")
        runs.append((f"espnatd-{vg_role}", log, None))
        if vg_role == "pcscf":
            dpc = Daemon(lab, pc, "pcscf", "pcscf", "nfqueue", PC_PROTECTED, ESPNATD, ESPNAT, prefix=pre,
                         extra=["--silent-after", "2"])
            due = Daemon(lab, ue, "ue", "ue", "nfqueue", UE_PROTECTED, ESPNATD, ESPNAT)
            dvg = dpc
        else:
            dpc = Daemon(lab, pc, "pcscf", "pcscf", "nfqueue", PC_PROTECTED, ESPNATD, ESPNAT)
            due = Daemon(lab, ue, "ue", "ue", "tun", UE_PROTECTED, ESPNATD, ESPNAT, prefix=pre,
                         extra=["--keepalive", "1"])
            dvg = due
        if not (check(dvg.start(wait=120), f"{tag}: espnatd up under valgrind") and
                check((dpc if dvg is due else due).start(), f"{tag}: the plain peer up")):
            return
        words = reg_words(UE4, PC4, UE_PORTS, PC_PORTS, (1111, 2222, 3333, 4444))
        for d in (dpc, due):
            d.ctl("reg", "add", *words, timeout=60)
        events = subprocess.Popen([ESPNAT, "events", "--json", "--socket", dvg.sock],
                                  stdout=subprocess.PIPE, text=True)
        ok = 0
        for i in range(3):
            msg = f"REGISTER sip:ims SIP/2.0 MARKER-vg-up-{i}".encode()
            ok += udp_exchange(lab, pc, PC4, PC_PORTS[1], ue, UE4, UE_PORTS[0], msg, timeout=10) == b"ANSWER:" + msg
            msg = f"MESSAGE sip:ue SIP/2.0 MARKER-vg-down-{i}".encode()
            ok += udp_exchange(lab, ue, UE4, UE_PORTS[1], pc, PC4, PC_PORTS[0], msg, timeout=10) == b"ANSWER:" + msg
        check(ok == 6, f"{tag}: 3 UDP exchanges each way ({ok}/6)")
        big = b"MESSAGE sip:ue SIP/2.0 MARKER-vg-big " + b"z" * 3000
        got = udp_exchange(lab, pc, PC4, PC_PORTS[1], ue, UE4, UE_PORTS[0], big, timeout=10)
        check(got == b"ANSWER:" + big, f"{tag}: a UDP message fragmented after ESP, both ways")
        msg = b"INVITE sip:x SIP/2.0 MARKER-vg-tcp " + b"v=0 " * 1000
        got = tcp_exchange(lab, pc, PC4, PC_PORTS[1], ue, UE4, UE_PORTS[0], msg, timeout=15)
        check(got == b"ANSWER:" + msg, f"{tag}: TCP both ways")
        # control requests, some through espnat under valgrind
        for words in (["sa", "list"], ["sa", "list", "keys"], ["reg", "list"], ["table"],
                      ["table", "reqid", "1"], ["stats"], ["ping"]):
            r = vg_run("espnat-" + "-".join(words), ESPNAT, *words, "--socket", dvg.sock)
            check(r.returncode == 0, f"{tag}: espnat {' '.join(words)} (the client under valgrind too)")
        r = vg_run("espnat-json-stats", ESPNAT, "stats", "--json", "--socket", dvg.sock)
        r = vg_run("espnat-bad", ESPNAT, "reg", "del", "reqid", "999", "--socket", dvg.sock, expect=1)
        for bad in ("sa del spi 0x1234 dst 1.2.3.4", "reg add ue 1.2.3.4", "table reqid x",
                    "sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x500 enc cbc(aes) 0x00", "x" * 70000):
            ctl_raw(dvg.sock, bad, timeout=30)
        dvg.ctl("sa", "add", "src", PC4, "dst", UE4, "proto", "esp", "spi", "0x9001", "auth-trunc",
                "hmac(sha1)", "0x0102030405060708090a0b0c0d0e0f1011121314", "96", "enc", "cbc(aes)",
                "0x00112233445566778899aabbccddeeff", "sel", "src", PC4, "dst", UE4, "sport", "5066",
                "dport", "5099", "dir", "out", timeout=60)
        dvg.ctl("sa", "del", "spi", "0x9001", "dst", UE4, timeout=60)
        # re-keying: a second registration beside the first (new client
        # ports, new SPIs), traffic on it, then the first removed
        words2 = reg_words(UE4, PC4, (5063, UE_PORTS[1]), (5067, PC_PORTS[1]), (5111, 5222, 5333, 5444))
        new = [d.ctl("reg", "add", *words2, timeout=60)["reqid"] for d in (dpc, due)]
        old = [r["reqid"] for r in dpc.ctl("reg", "list", timeout=60)["registrations"] if r["reqid"] != new[0]]
        ok = 0
        for i in range(2):
            msg = f"REGISTER sip:ims SIP/2.0 MARKER-vg-rekey-up-{i}".encode()
            ok += udp_exchange(lab, pc, PC4, PC_PORTS[1], ue, UE4, 5063, msg, timeout=10) == b"ANSWER:" + msg
            msg = f"MESSAGE sip:ue SIP/2.0 MARKER-vg-rekey-down-{i}".encode()
            ok += udp_exchange(lab, ue, UE4, UE_PORTS[1], pc, PC4, 5067, msg, timeout=10) == b"ANSWER:" + msg
            if i == 0:
                old_ue = [r["reqid"] for r in due.ctl("reg", "list", timeout=60)["registrations"]
                          if r["reqid"] != new[1]]
                for d, rq in ((dpc, old), (due, old_ue)):
                    for q in rq:
                        d.ctl("reg", "del", "reqid", str(q), timeout=60)
        check(ok == 4, f"{tag}: re-keyed: traffic on the new registration beside the old and after it ({ok}/4)")
        if vg_role == "ue":
            time.sleep(3)
            st = dvg.ctl("stats", timeout=60)
            check(st.get("keepalives_sent", 0) > 0, f"{tag}: NAT keepalives sent ({st.get('keepalives_sent')})")
        dvg.ctl("sa", "flush", timeout=60)
        events.terminate()
        events.wait(timeout=10)
        t_stop = time.monotonic()
        rc = dvg.stop(timeout=120)
        for i, r in enumerate(runs):
            if r[0] == f"espnatd-{vg_role}":
                runs[i] = (r[0], r[1], rc)
        check(rc == 0, f"{tag}: SIGTERM: espnatd under valgrind exits 0 (99: valgrind found errors), "
                       f"rc {rc}, {time.monotonic() - t_stop:.1f} s")
        files = logs_of(log)
        bad = summarize(files)
        check(files and not bad, f"{tag}: valgrind logs clean ({len(files)}: the daemon's and those of "
                                 f"the children it forks before exec)")
        daemon_log = open(dvg.log, errors="replace").read()
        if rc != 0:
            print(daemon_log[-2000:])
    finally:
        lab.close()
        print(f"{tag}: round took {time.monotonic() - t0:.0f} s")


def daemon_mode():
    netns.need_root()
    t0 = time.monotonic()
    daemon_round("pcscf")
    daemon_round("ue")
    bad = summarize([f for n, log, _ in runs if n.startswith("espnat-") for f in logs_of(log)])
    check(not bad, f"valgrind: the espnat client runs clean ({len(bad)} with errors)")
    print(f"valgrind daemon: {time.monotonic() - t0:.0f} s")


def main():
    netns.exit_on_sigterm()
    try:
        if MODE == "pcap":
            pcap_mode()
        elif MODE == "daemon":
            daemon_mode()
        else:
            print(__doc__)
            return 2
    finally:
        print(f"valgrind logs: {LOGDIR}" if netns.failed else "")
        if not netns.failed:
            subprocess.run(["rm", "-rf", LOGDIR])
    print(f"valgrind_test {MODE}: {netns.passed} passed, {netns.failed} failed")
    return 1 if netns.failed else 0


if __name__ == "__main__":
    sys.exit(main())
