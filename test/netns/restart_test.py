#!/usr/bin/python3
"""Restart without loss: a P-CSCF espnatd with durable state is killed
with SIGKILL while traffic flows both ways, and started again with nothing
re-added. Traffic resumes without a re-registration: the SAs, the learned
NAT port and the sequence numbers come back from the state file; the UE
accepts every packet the P-CSCF sends after the restart (none reuses a
sequence number); an ESP packet captured before the crash, replayed, is
refused; nothing crosses the wire in clear at any time. The time from the
restart to the first answered request is printed.
Usage: restart_test.py BUILD_DIR"""
import os
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_test as dt  # noqa: E402  (its Daemon, topology, registration words)
import netns  # noqa: E402
from netns import Capture, Lab, check, udp_exchange, wire_report  # noqa: E402

BLOCK = 64      # small, so that the test crosses several reservations


def echo_server(lab, ns, addr, port, seconds):
    """A UDP server on (addr, port) in @ns answering 'OK ' + each request,
    for @seconds."""
    return lab.spawn(ns, "/usr/bin/python3", "-c", f"""
import socket,time
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(({addr!r},{port}))
s.settimeout(0.2); end=time.time()+{seconds}
while time.time()<end:
    try: d,a=s.recvfrom(2000); s.sendto(b'OK '+d,a)
    except socket.timeout: pass
""")


def steady_traffic(lab, pc, ue, seconds, rate, tag):
    """The UE sends requests to the P-CSCF's server port, and the P-CSCF
    to the UE's, `rate` a second each way; returns how many were answered
    each way."""
    out = os.path.join(lab.tmp, f"{tag}.json")
    srv_pc = echo_server(lab, pc, dt.PC4, dt.PC_PORTS[1], seconds + 2)
    srv_ue = echo_server(lab, ue, dt.UE4, dt.UE_PORTS[1], seconds + 2)
    time.sleep(0.3)
    client = f"""
import socket,sys,time
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1],int(sys.argv[2])))
s.settimeout(0.3); ok=0; n=int({seconds}*{rate})
for i in range(n):
    s.sendto(b'MARKER-steady-%d' % i,(sys.argv[3],int(sys.argv[4])))
    try:
        s.recvfrom(2000); ok+=1
    except socket.timeout: pass
    time.sleep(1/{rate})
print(ok)
"""
    up = lab.spawn(ue, "/usr/bin/python3", "-c", client, dt.UE4, str(dt.UE_PORTS[0]), dt.PC4,
                   str(dt.PC_PORTS[1]), log=out + ".up")
    down = lab.spawn(pc, "/usr/bin/python3", "-c", client, dt.PC4, str(dt.PC_PORTS[0]), dt.UE4,
                     str(dt.UE_PORTS[1]), log=out + ".down")
    for p in (up, down, srv_pc, srv_ue):
        p.wait(timeout=seconds + 30)
    return (int(open(out + ".up").read().strip() or 0),
            int(open(out + ".down").read().strip() or 0))


def first_answer(lab, pc, ue, deadline_s):
    """Seconds until a request from the P-CSCF to the UE is answered."""
    t0 = time.time()
    while time.time() - t0 < deadline_s:
        got = udp_exchange(lab, ue, dt.UE4, dt.UE_PORTS[1], pc, dt.PC4, dt.PC_PORTS[0],
                           b"MARKER-resume", timeout=0.5)
        if got == b"ANSWER:MARKER-resume":
            return time.time() - t0
    return None


def replay_old_packet(lab, ue, pcap_packets):
    """Sends again, from the UE's namespace, the last ESP-in-UDP packet the
    UE sent before the crash. Returns True when there was one."""
    from scapy.all import IP, UDP
    old = [p for p in pcap_packets if IP in p and UDP in p and p[IP].src == dt.UE4
           and p[UDP].dport == 4500 and len(p[UDP].payload) > 8]
    if not old:
        return False
    raw = bytes(old[-1][IP])
    lab.exec(ue, "/usr/bin/python3", "-c", f"""
import socket
s=socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto({raw!r},({dt.PC4!r},0))
""")
    return True


def main():
    netns.need_root()
    lab = Lab("r")
    try:
        pc, ue = dt.topology(lab)
        db = os.path.join(lab.tmp, "pcscf-state.db")
        dpc = dt.Daemon(lab, pc, "rpc", "pcscf", "nfqueue", dt.PC_PORTS)
        dpc.args += ["--state", db, "--state-block", str(BLOCK)]
        due = dt.Daemon(lab, ue, "rue", "ue", "nfqueue", dt.UE_PORTS)
        if not (check(dpc.start(), "P-CSCF espnatd with a state file up") and
                check(due.start(), "UE espnatd up")):
            return 1
        mode = stat.S_IMODE(os.stat(db).st_mode)
        check(mode == 0o600, f"the state file is 0600 ({oct(mode)}): it holds keys")
        dpc.ctl("reg", "add", *dt.reg_words(dt.UE4, dt.PC4, "UDP-enc-tun", 4))
        due.ctl("reg", "add", *dt.reg_words(dt.UE4, dt.PC4, "UDP-enc-tun", 4))
        cap = Capture(lab, pc, "vpc", "restart")

        # before: traffic both ways across several reservations
        up, down = steady_traffic(lab, pc, ue, 8, 25, "before")
        check(up >= 190 and down >= 190, f"before the crash: {up}/200 up, {down}/200 down answered")
        before = {s["spi"]: s for s in dpc.ctl("sa", "list")["sas"]}
        seq_before = max(s["seq_out"] for s in before.values())
        check(seq_before > 2 * BLOCK, f"the P-CSCF sent {seq_before} on its busiest SA "
              f"(more than two reservations of {BLOCK})")
        check(dpc.ctl("stats")["drops"].get("unreserved", 0) == 0,
              "no packet waited for a reservation at this rate")
        time.sleep(1.5)     # the inbound marks of the last packets saved

        # the crash, mid-flow
        dpc.stop(signal.SIGKILL)
        down_dead = udp_exchange(lab, ue, dt.UE4, dt.UE_PORTS[1], pc, dt.PC4, dt.PC_PORTS[0],
                                 b"MARKER-while-dead", timeout=1)
        check(down_dead is None, "while the P-CSCF's daemon is dead nothing gets through")

        # the restart: the same state file, nothing re-added
        t0 = time.time()
        check(dpc.start(), "P-CSCF espnatd started again")
        resume = first_answer(lab, pc, ue, 10)
        check(resume is not None, "traffic P-CSCF -> UE resumed without a re-registration")
        if resume is not None:
            print(f"time to resume: {time.time() - t0:.2f} s from the restart "
                  f"({resume:.2f} s after the daemon answered)")
        after = {s["spi"]: s for s in dpc.ctl("sa", "list")["sas"]}
        check(sorted(after) == sorted(before), f"the four SAs are back: {sorted(after)}")
        regs = dpc.ctl("reg", "list")["registrations"]
        check(len(regs) == 1 and regs[0]["port"] == 4500,
              f"the learned NAT port is back before the UE spoke: {regs}")
        seq_after = {spi: s["seq_out"] for spi, s in after.items()}
        check(all(seq_after[spi] >= before[spi]["seq_out"] for spi in before),
              f"outbound SAs resumed above what they had sent ({seq_after})")

        # both ways again; the UE never saw a number twice
        up, down = steady_traffic(lab, pc, ue, 4, 25, "after")
        check(up >= 95 and down >= 95, f"after the restart: {up}/100 up, {down}/100 down answered")
        ue_drops = due.ctl("stats")["drops"]
        check(ue_drops.get("replay", 0) == 0,
              f"the UE accepted every packet the restarted P-CSCF sent (replay drops {ue_drops})")

        # a packet from before the crash, sent again: refused
        drops0 = dpc.ctl("stats")["drops"].get("replay", 0)
        packets = cap.stop()
        if check(replay_old_packet(lab, ue, packets), "an ESP packet of the UE from before the crash"):
            time.sleep(0.5)
            drops1 = dpc.ctl("stats")["drops"].get("replay", 0)
            check(drops1 == drops0 + 1, f"replayed after the restart: refused as a replay "
                  f"({drops0} -> {drops1})")
        esp, plain, offenders = wire_report(packets, b"MARKER-")
        check(esp > 0 and plain == 0, f"no plaintext on the wire at any time ({esp} ESP packets, "
              f"offenders {offenders[:3]})")

        # a clean stop saves, and a second restart still resumes
        dpc.stop()
        check(dpc.p.returncode == 0, "clean stop")
        check(dpc.start(), "started a third time")
        check(first_answer(lab, pc, ue, 10) is not None, "and traffic resumes again")
        dpc.stop()
    finally:
        lab.close()
    print(f"restart_test: {netns.passed} passed, {netns.failed} failed")
    return 1 if netns.failed else 0


if __name__ == "__main__":
    netns.run_main(main)
