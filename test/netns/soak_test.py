#!/usr/bin/python3
"""Soak: SOAK_SECONDS (default 600) of traffic both ways between a P-CSCF
and a UE, each with its own espnatd (P-CSCF: NFQUEUE, UE: TUN), under
registration churn, in a loop of ~5 s cycles:
  - re-keying as TS 33.203 7.3.3 and the README do it: a second `reg add`
    beside the first (new client ports on both sides, new SPIs, the reqid
    the daemon picks), traffic moved to the new client ports (the UE's
    first, so that the P-CSCF learns port_Uenc, then the P-CSCF's), then
    `reg del` of the old one;
  - every 10th cycle a full de-registration (both `reg del`) and a fresh
    registration; every 5th a TCP exchange; every cycle a throw-away
    registration with `lifetime 2` at the P-CSCF that expires by itself;
  - the whole time, TRAFFIC_RATE requests a second each way (a UE client
    to the P-CSCF's server port and a P-CSCF client to the UE's), each
    answered: every cycle must have its answers (loss at most 2 % + 3);
  - `espnat events` followed at the P-CSCF: one `learned` per registration,
    four `expired` per throw-away one, no events lost;
  - tcpdump on the wire with a filter for plain UDP/TCP on a protected
    port: nothing, the whole time.
RSS (VmRSS) and open fds of both daemons are taken after a warm-up (the
first tenth of the run, at least 20 s) and at the end: fds must not grow,
RSS by at most RSS_BOUND_KB (default 512 kB). The figures are printed.

Why 512 kB: both daemons sit at 8-11 MB resident and at most three
registrations exist at any time, so a daemon without leaks reaches its
steady state within the warm-up (SA tables, OpenSSL contexts, malloc
arenas); over ten-minute runs RSS moved by 0 kB. One SA costs ~1.5 KB
resident (README), a registration ~6 KB: over the ~119 cycles, leaking one
registration a cycle is ~0.7 MB at the UE (~1.4 MB at the P-CSCF, which
also adds a throw-away registration each cycle); a per-packet leak of
even the smallest malloc chunk (32 bytes) over the ~230 000 packets each
daemon handles is ~7 MB. 10 % of RSS (1 MB) would miss the first.
Usage: soak_test.py BUILD_DIR"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Daemon, Lab, check, reg_words, tcp_exchange  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
ESPNATD = os.path.join(BUILD, "tools", "espnatd")
ESPNAT = os.path.join(BUILD, "tools", "espnat")
AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "traffic_agent.py")
SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
RATE = float(os.environ.get("TRAFFIC_RATE", "100"))
RSS_BOUND_KB = int(os.environ.get("RSS_BOUND_KB", "512"))
CYCLE = 5.0

PC4, UE4 = "10.43.0.1", "10.43.0.2"
UE_SERVER, PC_SERVER = 5064, 5068
UE_CLIENT, PC_CLIENT = (5062, 5063), (5066, 5067)      # alternate with each re-keying
UE_PROTECTED, PC_PROTECTED = (5062, 5063, 5064), (5066, 5067, 5068)
DECOY_UE = "10.43.9.9"


class Agent:
    def __init__(self, lab, ns, addr, sport, peer, pport):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", AGENT, addr,
                                   str(sport), peer, str(pport), str(RATE)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  start_new_session=True)
        lab.procs.append(self.p)
        self.read()

    def read(self):
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("traffic agent died")
        return json.loads(line)

    def cmd(self, *words):
        self.p.stdin.write(" ".join(map(str, words)) + "\n")
        self.p.stdin.flush()
        return self.read()


class Events(threading.Thread):
    def __init__(self, d):
        super().__init__(daemon=True)
        self.p = subprocess.Popen([ESPNAT, "events", "--json", "--socket", d.sock],
                                  stdout=subprocess.PIPE, text=True)
        self.seen = {}

    def run(self):
        for line in self.p.stdout:
            try:
                e = json.loads(line).get("event")
            except ValueError:
                continue
            self.seen[e] = self.seen.get(e, 0) + 1


class Gen:
    """One registration, on both sides."""
    n = 0

    def __init__(self, dpc, due):
        Gen.n += 1
        self.k = Gen.n
        self.uc, self.pc = UE_CLIENT[self.k % 2], PC_CLIENT[self.k % 2]
        base = 0x10000 + self.k * 16
        words = reg_words(UE4, PC4, (self.uc, UE_SERVER), (self.pc, PC_SERVER),
                          (base + 1, base + 2, base + 3, base + 4))
        self.reqid_pc = dpc.ctl("reg", "add", *words)["reqid"]
        self.reqid_ue = due.ctl("reg", "add", *words)["reqid"]

    def delete(self, dpc, due):
        dpc.ctl("reg", "del", "reqid", str(self.reqid_pc))
        due.ctl("reg", "del", "reqid", str(self.reqid_ue))


def measure(ds):
    return {d.name: (d.rss_kb(), len(d.fds())) for d in ds}


def main():
    netns.need_root()
    netns.exit_on_sigterm()
    lab = Lab("sk")
    t0 = time.monotonic()
    agents = []
    try:
        pc, ue = lab.ns("pc"), lab.ns("ue")
        lab.veth(pc, "vpc", PC4 + "/24", ue, "vue", UE4 + "/24")
        dpc = Daemon(lab, pc, "pcscf", "pcscf", "nfqueue", PC_PROTECTED, ESPNATD, ESPNAT)
        due = Daemon(lab, ue, "ue", "ue", "tun", UE_PROTECTED, ESPNATD, ESPNAT)
        if not (check(dpc.start(), "P-CSCF espnatd up (NFQUEUE)") and
                check(due.start(), "UE espnatd up (TUN)")):
            return
        ports = sorted(set(UE_PROTECTED + PC_PROTECTED))
        flt = "(udp or tcp) and (" + " or ".join(f"port {p}" for p in ports) + ")"
        leakcap = os.path.join(lab.tmp, "leaks.pcap")
        leak_p = lab.spawn(pc, "tcpdump", "-U", "-n", "-s", "256", "-i", "vpc", "-w", leakcap,
                           flt, log=leakcap + ".log")
        events = Events(dpc)
        events.start()
        time.sleep(1)

        ue_agent = Agent(lab, ue, UE4, UE_SERVER, PC4, PC_SERVER)
        pc_agent = Agent(lab, pc, PC4, PC_SERVER, UE4, UE_SERVER)
        agents = [ue_agent, pc_agent]

        cur = Gen(dpc, due)
        ue_agent.cmd("port", cur.uc)
        time.sleep(0.5)
        pc_agent.cmd("port", cur.pc)
        regs_pc = 1
        decoys = 0
        cycles = rekeys = dereg = tcp_ok = tcp_n = 0
        bad_cycles = []
        totals = {"ue": [0, 0, 0], "pc": [0, 0, 0]}      # sent, answered, late
        warm = max(20.0, SECONDS / 10)
        start_fig = None
        samples = []
        end_at = t0 + SECONDS
        ue_agent.cmd("stats")
        pc_agent.cmd("stats")
        while time.monotonic() + CYCLE < end_at:
            c0 = time.monotonic()
            cycles += 1
            # a throw-away registration that expires by itself
            k = 0x80000 + cycles * 16
            dpc.ctl("reg", "add", *reg_words(DECOY_UE, PC4, (6000, 6001), (6002, 6003),
                                             (k + 1, k + 2, k + 3, k + 4)), "lifetime", "2")
            decoys += 1
            if cycles % 10 == 0:
                # de-registration, then a fresh registration
                for a in agents:
                    a.cmd("idle")
                time.sleep(0.3)
                for a in agents:
                    a.cmd("stats")          # the gap is not counted
                cur.delete(dpc, due)
                time.sleep(0.5)
                check_empty = dpc.ctl("reg", "list")["registrations"]
                if any(r["reqid"] == cur.reqid_pc for r in check_empty):
                    bad_cycles.append((cycles, "de-registered reqid still listed"))
                cur = Gen(dpc, due)
                regs_pc += 1
                dereg += 1
                ue_agent.cmd("port", cur.uc)
                time.sleep(0.5)
                pc_agent.cmd("port", cur.pc)
            else:
                # re-keying: make before break
                new = Gen(dpc, due)
                regs_pc += 1
                time.sleep(0.3)
                ue_agent.cmd("port", new.uc)
                time.sleep(0.7)
                pc_agent.cmd("port", new.pc)
                time.sleep(1.0)
                cur.delete(dpc, due)
                cur = new
                rekeys += 1
            if cycles % 5 == 0:
                tcp_n += 1
                msg = b"INVITE sip:x SIP/2.0 SOAK-MARKER-tcp " + b"v=0 " * 800
                got = tcp_exchange(lab, pc, PC4, PC_SERVER, ue, UE4, cur.uc, msg)
                tcp_ok += got == b"ANSWER:" + msg
            time.sleep(max(0.0, c0 + CYCLE - time.monotonic()))
            st = {"ue": ue_agent.cmd("stats"), "pc": pc_agent.cmd("stats")}
            for side, s in st.items():
                totals[side][0] += s["sent"]
                totals[side][1] += s["answered"]
                totals[side][2] += s["late"]
                lost = s["sent"] - s["answered"]
                if s["sent"] == 0 or lost > 3 + 0.02 * s["sent"]:
                    bad_cycles.append((cycles, side, s))
            if dpc.p.poll() is not None or due.p.poll() is not None:
                bad_cycles.append((cycles, "a daemon died"))
                break
            now = time.monotonic()
            fig = measure((dpc, due))
            samples.append((now - t0, fig))
            if start_fig is None and now - t0 >= warm:
                start_fig = (now - t0, fig)
            if cycles % 12 == 0:
                print(f"      {now - t0:5.0f} s: cycle {cycles}, "
                      + ", ".join(f"{n} RSS {r} kB fds {f}" for n, (r, f) in fig.items()), flush=True)
        # ---- the end
        end_fig = (time.monotonic() - t0, measure((dpc, due)))
        for a in agents:
            a.cmd("idle")
        time.sleep(3)         # the last throw-away registration expires
        stats = {d.name: d.ctl("stats") for d in (dpc, due)}
        regs_left = dpc.ctl("reg", "list")["registrations"]
        lab.kill(leak_p, signal.SIGINT)
        from scapy.all import rdpcap
        leaked = list(rdpcap(leakcap)) if os.path.getsize(leakcap) > 24 else []
        events.p.terminate()
        events.join(timeout=5)

        print(f"\n== soak figures ({time.monotonic() - t0:.0f} s, {cycles} cycles: {rekeys} re-keyings, "
              f"{dereg} de-/re-registrations, {decoys} registrations expired by lifetime, "
              f"{tcp_ok}/{tcp_n} TCP exchanges)")
        for side, (s, a, late) in totals.items():
            print(f"traffic {'UE -> P-CSCF' if side == 'ue' else 'P-CSCF -> UE'}: {s} requests, {a} answered "
                  f"in their cycle, {late} late, {s - a - late} lost")
        for n in (dpc.name, due.name):
            st = stats[n]
            print(f"{n}: {st['packets']} packets (encap {st['encap']}, decap {st['decap']}), dropped {st['dropped']} "
                  f"{st.get('drops', {})}, events lost {st.get('events_lost')}")
        print(f"events at the P-CSCF: {events.seen}")
        if start_fig:
            print(f"warm-up figures at {start_fig[0]:.0f} s, end at {end_fig[0]:.0f} s:")
            for n in (dpc.name, due.name):
                (r0, f0), (r1, f1) = start_fig[1][n], end_fig[1][n]
                peak = max(s[1][n][0] for s in samples)
                print(f"  {n:6s} RSS {r0} -> {r1} kB ({r1 - r0:+d} kB, {100.0 * (r1 - r0) / r0:+.1f} %, "
                      f"peak {peak} kB), fds {f0} -> {f1}")
        print()

        check(cycles >= 3, f"{cycles} cycles run")
        check(not bad_cycles, f"every cycle's traffic answered (loss <= 2 % + 3){bad_cycles[:5]}")
        for side, (s, a, late) in totals.items():
            check(s > 0 and a + late >= 0.99 * s, f"{side}: {a + late} of {s} requests answered over the run")
        check(tcp_ok == tcp_n, f"TCP exchanges: {tcp_ok}/{tcp_n}")
        check(leaked == [], f"no plaintext on a protected port on the wire {[p.summary() for p in leaked[:3]]}")
        check(events.seen.get("learned", 0) == regs_pc,
              f"one 'learned' event per registration at the P-CSCF ({events.seen.get('learned', 0)}/{regs_pc})")
        check(events.seen.get("expired", 0) == 4 * decoys,
              f"four 'expired' events per lifetime registration ({events.seen.get('expired', 0)}/{4 * decoys})")
        check(all(stats[n].get("events_lost") == 0 for n in stats), "no events lost")
        check([r["reqid"] for r in regs_left] == [cur.reqid_pc],
              f"only the last registration left at the P-CSCF {[r['reqid'] for r in regs_left]}")
        check(start_fig is not None, "warm-up figures taken")
        if start_fig:
            for n in (dpc.name, due.name):
                (r0, f0), (r1, f1) = start_fig[1][n], end_fig[1][n]
                check(f1 <= f0, f"{n}: open fds did not grow ({f0} -> {f1})")
                check(r1 - r0 <= RSS_BOUND_KB, f"{n}: RSS grew by at most {RSS_BOUND_KB} kB ({r1 - r0:+d} kB)")
        for dm in (dpc, due):
            rc = dm.stop()
            check(rc == 0, f"{dm.name}: clean stop (rc {rc})")
    finally:
        for a in agents:
            try:
                a.p.stdin.close()
            except OSError:
                pass
        lab.close()
        print(f"soak_test: ran {time.monotonic() - t0:.0f} s")
    print(f"soak_test: {netns.passed} passed, {netns.failed} failed")
    return 1 if netns.failed else 0


if __name__ == "__main__":
    netns.run_main(main)
