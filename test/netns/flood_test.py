#!/usr/bin/python3
"""Overload: espnatd on both sides of a veth pair (NFQUEUE data path), one
registration in UDP-enc-tun (aes-cbc, hmac-sha-1-96), and for FLOOD_SECONDS
(default 18) the protected ports flooded far beyond what the daemons
process: the UE's and the P-CSCF's SIP ports send as fast as sendmmsg()
goes (several senders each way), and forged ESP-in-UDP (a real SPI, no
valid ICV) hammers the P-CSCF's port 4500. Meanwhile:
  - the control socket keeps answering: a ping every 0.2 s straight on the
    socket and `espnat stats --json` every second, each within 1 s;
  - the kernel queue overflows and says so (queue_dropped or
    queue_user_dropped > 0), the forged packets are counted as drops by the
    daemon (auth);
  - nothing leaves in clear: tcpdump on the wire, for the whole flood, with a
    filter that keeps only UDP/TCP with a protected port (must capture
    nothing, and drop nothing), and a full-size sample of the first packets
    checked for the flood's plaintext marker outside ESP.
Afterwards both daemons still run, plain exchanges work both ways and a
clean SIGTERM removes the rules. Prints the figures: packets offered,
processed, dropped by the kernel queue and by the daemons, leaks, control
latency.
Usage: flood_test.py BUILD_DIR FLOOD_BINARY"""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Daemon, Lab, check, ctl_raw, leaks, reg_words, udp_exchange  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
FLOOD = os.path.abspath(sys.argv[2])
ESPNATD = os.path.join(BUILD, "tools", "espnatd")
ESPNAT = os.path.join(BUILD, "tools", "espnat")
SECONDS = float(os.environ.get("FLOOD_SECONDS", "18"))
SENDERS = int(os.environ.get("FLOOD_SENDERS", "2"))     # per direction
SIZE = 200
# ESP header 8, IV 16, 11 blocks, ICV 12: well formed, so that each forged
# packet gets as far as its ICV check
FORGED_SIZE = 8 + 16 + 176 + 12

PC4, UE4 = "10.41.0.1", "10.41.0.2"
UE_PORTS, PC_PORTS = (5062, 5064), (5066, 5068)
PROTECTED = set(UE_PORTS + PC_PORTS)
SPIS = (1111, 2222, 3333, 4444)    # ue-spi-c, ue-spi-s, pcscf-spi-c, pcscf-spi-s
LATENCY_BOUND = 1.0


class Monitor(threading.Thread):
    """Pings the control sockets every 0.2 s (straight on the socket) and
    runs `espnat stats --json` every second, timing each answer."""

    def __init__(self, daemons):
        super().__init__(daemon=True)
        self.daemons = daemons
        self.stop_flag = threading.Event()
        self.ping = {d.name: [] for d in daemons}      # seconds, None when unanswered
        self.stats = {d.name: [] for d in daemons}     # (seconds, answer)

    def run(self):
        tick = 0
        while not self.stop_flag.is_set():
            for d in self.daemons:
                a, dt = ctl_raw(d.sock, "ping", timeout=5)
                self.ping[d.name].append(dt if a and a.get("ok") else None)
                if tick % 5 == 0:
                    t0 = time.monotonic()
                    try:
                        a = d.ctl("stats", check_ok=False, timeout=10)
                    except subprocess.TimeoutExpired:
                        a = {}
                    self.stats[d.name].append((time.monotonic() - t0, a))
            tick += 1
            self.stop_flag.wait(0.2)


PROCS = []      # the flood helpers, killed in the end whatever happens


def flood_proc(lab, ns, *args):
    p = subprocess.Popen(["ip", "netns", "exec", ns, FLOOD, *map(str, args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    PROCS.append(p)
    return p


def collect(p, what, timeout):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
    words = out.split()
    if p.returncode != 0 or what not in words:
        print(f"flood helper failed ({p.returncode}): {out} {err}")
        return 0
    return int(words[words.index(what) + 1])


def figures(stats):
    f = {k: stats.get(k, 0) for k in ("packets", "encap", "decap", "dropped",
                                       "queue_dropped", "queue_user_dropped")}
    for reason, n in stats.get("drops", {}).items():
        f["drop " + reason] = n
    return f


def main():
    netns.need_root()
    netns.exit_on_sigterm()
    lab = Lab("fl")
    procs = PROCS
    t_start = time.monotonic()
    try:
        pc, ue = lab.ns("pc"), lab.ns("ue")
        lab.veth(pc, "vpc", PC4 + "/24", ue, "vue", UE4 + "/24")
        dpc = Daemon(lab, pc, "pcscf", "pcscf", "nfqueue", PC_PORTS, ESPNATD, ESPNAT)
        due = Daemon(lab, ue, "ue", "ue", "nfqueue", UE_PORTS, ESPNATD, ESPNAT)
        if not (check(dpc.start(), "P-CSCF espnatd up (NFQUEUE)") and
                check(due.start(), "UE espnatd up (NFQUEUE)")):
            return
        words = reg_words(UE4, PC4, UE_PORTS, PC_PORTS, SPIS, reqid=1)
        dpc.ctl("reg", "add", *words)
        due.ctl("reg", "add", *words)
        got = udp_exchange(lab, pc, PC4, PC_PORTS[1], ue, UE4, UE_PORTS[0], b"MARKER-warmup")
        check(got == b"ANSWER:MARKER-warmup", "warm-up: UE -> P-CSCF and back (port_Uenc learned)")
        got = udp_exchange(lab, ue, UE4, UE_PORTS[1], pc, PC4, PC_PORTS[0], b"MARKER-warmdown")
        check(got == b"ANSWER:MARKER-warmdown", "warm-up: P-CSCF -> UE and back")
        before = {d.name: figures(d.ctl("stats")) for d in (dpc, due)}
        sas_before = {d.name: d.ctl("sa", "list")["sas"] for d in (dpc, due)}

        # the wire: every plain UDP/TCP packet with a protected port, for
        # the whole flood (the kernel filter keeps tcpdump's work small) ...
        flt = "(udp or tcp) and (" + " or ".join(f"port {p}" for p in sorted(PROTECTED)) + ")"
        leakcap = os.path.join(lab.tmp, "leaks.pcap")
        leak_p = lab.spawn(pc, "tcpdump", "-U", "-n", "-s", "256", "-B", "16384", "-i", "vpc",
                           "-w", leakcap, flt, log=leakcap + ".log")
        # ... and the first 20000 packets whole, for the marker
        sample = os.path.join(lab.tmp, "sample.pcap")
        sample_p = lab.spawn(pc, "tcpdump", "-U", "-n", "-s", "0", "-c", "20000", "-i", "vpc",
                             "-w", sample, log=sample + ".log")
        time.sleep(1.0)
        link0 = link_packets(lab, pc)

        mon = Monitor([dpc, due])
        mon.start()
        rx_pc = flood_proc(lab, pc, "recv", PC4, PC_PORTS[1], SECONDS + 4)
        rx_ue = flood_proc(lab, ue, "recv", UE4, UE_PORTS[1], SECONDS + 4)
        time.sleep(0.3)
        up = [flood_proc(lab, ue, "send", UE4, UE_PORTS[0], PC4, PC_PORTS[1], SECONDS, SIZE)
              for _ in range(SENDERS)]
        down = [flood_proc(lab, pc, "send", PC4, PC_PORTS[0], UE4, UE_PORTS[1], SECONDS, SIZE)
                for _ in range(SENDERS)]
        # forged ESP-in-UDP: the P-CSCF's inbound SPI (pcscf-spi-s), from
        # another port, no valid ICV
        forged = flood_proc(lab, ue, "send", UE4, 40000, PC4, 4500, SECONDS, FORGED_SIZE,
                            "esp", SPIS[3])
        offered_up = sum(collect(p, "sent", SECONDS + 20) for p in up)
        offered_down = sum(collect(p, "sent", SECONDS + 20) for p in down)
        offered_forged = collect(forged, "sent", SECONDS + 20)
        delivered_pc = collect(rx_pc, "received", 30)
        delivered_ue = collect(rx_ue, "received", 30)
        time.sleep(1.0)
        mon.stop_flag.set()
        mon.join(timeout=30)
        link1 = link_packets(lab, pc)
        after = {d.name: figures(d.ctl("stats")) for d in (dpc, due)}

        time.sleep(0.5)
        lab.kill(leak_p, signal.SIGINT)
        lab.kill(sample_p, signal.SIGINT)
        from scapy.all import rdpcap
        leaked = list(rdpcap(leakcap)) if os.path.getsize(leakcap) > 24 else []
        leaklog = open(leakcap + ".log").read()
        esp_sample, offenders = leaks(list(rdpcap(sample)) if os.path.getsize(sample) > 24 else [],
                                      PROTECTED, b"FLOOD-MARKER-")

        # ---- figures
        d = {n: {k: after[n][k] - before[n].get(k, 0) for k in after[n]} for n in after}
        print("\n== flood figures (%.0f s, %d+%d senders of %d-byte datagrams, forged ESP 1 sender)"
              % (SECONDS, SENDERS, SENDERS, SIZE))
        print(f"offered  UE->P-CSCF {offered_up}  P-CSCF->UE {offered_down}  forged ESP {offered_forged}"
              f"  ({(offered_up + offered_down + offered_forged) / SECONDS:.0f} pps in all)")
        for n, role in (("ue", "UE"), ("pcscf", "P-CSCF")):
            x = d[n]
            print(f"{role:7s} processed {x['packets']} (encap {x['encap']}, decap {x['decap']}), "
                  f"dropped by the daemon {x['dropped']}, by the kernel queue "
                  f"{x['queue_dropped']} (queue full) + {x['queue_user_dropped']} (socket full)")
            reasons = ", ".join(f"{k[5:]} {v}" for k, v in x.items() if k.startswith("drop ") and v)
            print(f"{'':7s} the daemon's drops by reason: {reasons or 'none'}")
        print(f"delivered to the P-CSCF's port {PC_PORTS[1]}: {delivered_pc}; to the UE's port "
              f"{UE_PORTS[1]}: {delivered_ue}")
        print(f"on the wire (vpc, both ways): {link1 - link0} packets")
        for n in (dpc.name, due.name):
            pings = mon.ping[n]
            ok = [x for x in pings if x is not None]
            st = [x[0] for x in mon.stats[n]]
            print(f"control {n}: {len(ok)}/{len(pings)} pings answered, max {max(ok, default=0) * 1000:.1f} ms, "
                  f"median {sorted(ok)[len(ok) // 2] * 1000 if ok else 0:.1f} ms; `espnat stats` x{len(st)}, "
                  f"max {max(st, default=0) * 1000:.1f} ms")
        print(f"leaks: {len(leaked)} plain UDP/TCP packets with a protected port over the whole flood; "
              f"{len(offenders)} in the {esp_sample}-ESP-packet sample")
        print(f"tcpdump (leak capture): {leaklog.strip().splitlines()[-1] if leaklog.strip() else '?'}")
        print()

        # ---- checks
        total_q = {n: d[n]["queue_dropped"] + d[n]["queue_user_dropped"] for n in d}
        check(offered_up > 0 and offered_down > 0 and offered_forged > 0, "the senders sent")
        check(total_q["ue"] > 0, f"UE: the kernel queue overflowed and counted it ({total_q['ue']})")
        check(total_q["pcscf"] > 0, f"P-CSCF: the kernel queue overflowed and counted it ({total_q['pcscf']})")
        check(offered_up + offered_down > d["ue"]["packets"] + d["pcscf"]["encap"],
              "offered more than the daemons processed (overload)")
        check(d["pcscf"].get("drop auth", 0) > 0 and d["pcscf"]["dropped"] >= d["pcscf"]["drop auth"],
              f"P-CSCF: forged ESP counted as drops by the daemon (auth {d['pcscf'].get('drop auth', 0)}, "
              f"dropped {d['pcscf']['dropped']})")
        check(d["ue"]["encap"] > 0 and d["pcscf"]["decap"] > 0 and delivered_pc > 0 and delivered_ue > 0,
              "traffic kept flowing under the flood, both ways")
        for n in (dpc.name, due.name):
            pings = mon.ping[n]
            ok = [x for x in pings if x is not None]
            check(len(pings) > 10 and len(ok) == len(pings) and max(ok) < LATENCY_BOUND,
                  f"control {n}: every ping answered within {LATENCY_BOUND} s "
                  f"({len(ok)}/{len(pings)}, max {max(ok, default=0) * 1000:.0f} ms)")
            st = [x for x in mon.stats[n]]
            check(st and all(a.get("ok") and dt < LATENCY_BOUND for dt, a in st),
                  f"control {n}: `espnat stats` answered within {LATENCY_BOUND} s each time "
                  f"(max {max((x[0] for x in st), default=0) * 1000:.0f} ms)")
        check(leaked == [], f"no plaintext with a protected port on the wire {[p.summary() for p in leaked[:3]]}")
        check("0 packets dropped by kernel" in leaklog, "the leak capture missed nothing (0 dropped by kernel)")
        check(esp_sample > 1000 and offenders == [],
              f"sample of {esp_sample} ESP packets: no plaintext marker outside ESP {offenders[:3]}")

        # ---- afterwards
        check(dpc.p.poll() is None and due.p.poll() is None, "both daemons survived the flood")
        got = udp_exchange(lab, pc, PC4, PC_PORTS[1], ue, UE4, UE_PORTS[0], b"MARKER-after-up")
        check(got == b"ANSWER:MARKER-after-up", "after the flood: UE -> P-CSCF and back")
        got = udp_exchange(lab, ue, UE4, UE_PORTS[1], pc, PC4, PC_PORTS[0], b"MARKER-after-down")
        check(got == b"ANSWER:MARKER-after-down", "after the flood: P-CSCF -> UE and back")
        for dm in (dpc, due):
            sas = dm.ctl("sa", "list")["sas"]
            same = [(s["spi"], s["dst"]) for s in sas] == [(s["spi"], s["dst"]) for s in sas_before[dm.name]]
            check(same, f"{dm.name}: the same SAs as before the flood")
        regs = dpc.ctl("reg", "list")["registrations"]
        check([r["port"] for r in regs] == [4500], f"P-CSCF: the forged packets moved no port {[r['port'] for r in regs]}")
        for dm in (dpc, due):
            rc = dm.stop()
            check(rc == 0, f"{dm.name}: clean stop on SIGTERM after the flood (rc {rc})")
        rules = lab.exec(pc, "iptables-save", "-t", "raw").stdout + lab.exec(pc, "nft", "list", "ruleset", check_rc=False).stdout
        check("ESPNATD" not in rules and "espnatd" not in rules, "the P-CSCF's rules are gone")
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        lab.close()
        print(f"flood_test: ran {time.monotonic() - t_start:.0f} s")
    print(f"flood_test: {netns.passed} passed, {netns.failed} failed")
    return 1 if netns.failed else 0


def link_packets(lab, ns):
    """Packets through vpc, sent plus received."""
    out = lab.exec(ns, "cat", "/sys/class/net/vpc/statistics/tx_packets",
                   "/sys/class/net/vpc/statistics/rx_packets").stdout.split()
    return sum(map(int, out))


if __name__ == "__main__":
    netns.run_main(main)
