#!/usr/bin/python3
"""espnat-udpgen, the end-to-end benchmark's sender and counter, in a
namespace of its own (loopback only):
  - a paced run keeps its rate and the counter sees every datagram once, in
    order, over IPv4 and IPv6;
  - hand-made datagrams are sorted as the counter documents: duplicates,
    reordered, foreign (short, wrong magic, another run's tag), corrupt
    (a lying length field, a changed payload byte, a sequence number out of
    range), truncated (longer than its slots);
  - a flood is counted without a duplicate or a corrupt datagram;
  - behind a slow link (a token bucket on lo) the sender says it waited for
    its send buffer (blocked_seconds) and nothing is lost;
  - bad options are refused with exit status 2.
Usage: udpgen_test.py UDPGEN_BINARY"""
import json
import os
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Lab, check  # noqa: E402

UDPGEN = os.path.abspath(sys.argv[1])
MAGIC = 0x45554450


def datagram(tag, seq, length, declared=None):
    head = struct.pack(">IQQI", MAGIC, tag, seq, length if declared is None else declared)
    body = bytes((seq + i) & 0xff for i in range(24, length))
    return head + body


def start_counter(lab, ns, addr, tag):
    p = subprocess.Popen(["ip", "netns", "exec", ns, UDPGEN, "recv", addr, "--tag", f"{tag:x}",
                          "--rcvbuf", "8M", "--timeout", "60"],
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    lab.procs.append(p)
    port = addr.rsplit(":", 1)[1]
    for _ in range(50):
        if f":{port} " in lab.exec(ns, "ss", "-Hlun").stdout:
            break
        time.sleep(0.1)
    return p


def stop_counter(p):
    time.sleep(0.3)     # loopback delivers at once; leave it time to read
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=10)
    check(p.returncode == 0, f"counter exits 0 on SIGTERM (rc {p.returncode})")
    return json.loads(out)


def send(lab, ns, dst, src, *opts):
    r = lab.exec(ns, UDPGEN, "send", dst, "--from", src, *opts, timeout=60)
    return json.loads(r.stdout)


def paced(lab, ns, dst, src, tag, rate, dur):
    p = start_counter(lab, ns, dst, tag)
    s = send(lab, ns, dst, src, "--length", "200", "--rate", str(rate), "--duration", str(dur),
             "--tag", f"{tag:x}")
    c = stop_counter(p)
    want = rate * dur
    check(abs(s["sent"] - want) <= 0.03 * want,
          f"{dst}: paced at {rate} pps for {dur} s sends {s['sent']} (want {want:.0f} +-3 %)")
    check(c["received"] == s["sent"] and c["seq_max"] == s["sent"],
          f"{dst}: every datagram counted: received {c['received']}, highest {c['seq_max']}, "
          f"sent {s['sent']}")
    check(c["duplicates"] == c["reordered"] == c["corrupt"] == c["foreign"] ==
          c["truncated"] == 0, f"{dst}: nothing else counted: {c}")
    check(c["bytes"] == 200 * c["received"], f"{dst}: bytes {c['bytes']} = 200 x received")


SORTING = r"""
import socket, sys
ds = [bytes.fromhex(h) for h in sys.argv[1:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for d in ds:
    s.sendto(d, ("127.0.0.1", 9001))
"""


def sorting(lab, ns):
    tag = 0x1234
    ok5, ok3 = datagram(tag, 5, 100), datagram(tag, 3, 100)
    flipped = bytearray(datagram(tag, 7, 100))
    flipped[60] ^= 0x01
    cases = [
        ok5, ok3, ok5,                              # counted, reordered, duplicate
        datagram(0x9999, 8, 100),                   # another run's tag: foreign
        b"XUDP" + datagram(tag, 9, 100)[4:],         # wrong magic: foreign
        datagram(tag, 10, 100)[:10],                # shorter than a header: foreign
        datagram(tag, 11, 100, declared=101),       # lying length: corrupt
        bytes(flipped),                             # changed payload: corrupt
        datagram(tag, 1 << 28, 100),                # sequence out of range: corrupt
        datagram(tag, 12, 9300),                    # longer than a slot: truncated
    ]
    p = start_counter(lab, ns, "127.0.0.1:9001", tag)
    lab.exec(ns, "/usr/bin/python3", "-c", SORTING, *[c.hex() for c in cases])
    c = stop_counter(p)
    want = {"received": 2, "duplicates": 1, "reordered": 1, "foreign": 3, "corrupt": 3,
            "truncated": 1, "seq_max": 6, "bytes": 200}
    got = {k: c[k] for k in want}
    check(got == want, f"hand-made datagrams sorted: {got} (want {want})")


def flood(lab, ns):
    tag = 0xf100d
    p = start_counter(lab, ns, "127.0.0.1:9002", tag)
    s = send(lab, ns, "127.0.0.1:9002", "127.0.0.1", "--length", "1400", "--duration", "1",
             "--tag", f"{tag:x}", "--sndbuf", "4M", "--batch", "128")
    c = stop_counter(p)
    check(s["rate"] == 0 and s["sent"] > 1000 and s["batches"] < s["sent"],
          f"flood: {s['sent']} sent in {s['batches']} sendmmsg() calls")
    check(0 < c["received"] <= s["sent"] and c["duplicates"] == c["corrupt"] == 0,
          f"flood: {c['received']} of {s['sent']} counted, no duplicate or corrupt one")


def backpressure(lab, ns):
    # 8 Mbit/s: about 4,300 datagrams of 200 B a second; the qdisc holds
    # what the 64 KiB send buffer lets out, the rest waits in the sender
    lab.exec(ns, "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "8mbit",
             "burst", "16kb", "limit", "1mb")
    tag = 0xb10c
    try:
        p = start_counter(lab, ns, "127.0.0.1:9003", tag)
        s = send(lab, ns, "127.0.0.1:9003", "127.0.0.1", "--length", "200", "--duration", "1",
                 "--tag", f"{tag:x}", "--sndbuf", "64K")
        c = stop_counter(p)
    finally:
        lab.exec(ns, "tc", "qdisc", "del", "dev", "lo", "root")
    check(s["blocked_seconds"] > 0.5 and 2000 < s["sent"] < 8000,
          f"slow link: the sender waited {s['blocked_seconds']:.2f} s of 1 for room, sent "
          f"{s['sent']} (8 Mbit/s carries about 4,300)")
    check(c["received"] == s["sent"] and c["duplicates"] == c["corrupt"] == 0,
          f"slow link: all {s['sent']} counted ({c['received']}), none lost")


def refusals(lab, ns):
    bad = [
        ["send", "127.0.0.1:9", "--from", "127.0.0.1", "--length", "23"],
        ["send", "127.0.0.1:9", "--from", "127.0.0.1", "--length", "8973"],
        ["send", "127.0.0.1:9", "--length", "200"],                         # no --from
        ["send", "127.0.0.1", "--from", "127.0.0.1", "--length", "200"],     # no port
        ["send", "127.0.0.1:9", "--from", "::1", "--length", "200"],         # families differ
        ["send", "127.0.0.1:9", "--from", "127.0.0.1", "--length", "200", "--batch", "0"],
        ["send", "127.0.0.1:9", "--from", "127.0.0.1", "--length", "200", "--rate", "-5"],
        ["send", "127.0.0.1:99999", "--from", "127.0.0.1", "--length", "200"],
        ["recv", "127.0.0.1:9"],                                             # no --tag
        ["recv", "127.0.0.1:9", "--tag", "xyz"],
        ["recv", "127.0.0.1:9", "--tag", "1", "--rcvbuf", "0"],
        ["frobnicate"],
    ]
    for argv in bad:
        r = lab.exec(ns, UDPGEN, *argv, check_rc=False, timeout=10)
        check(r.returncode == 2 and r.stderr.strip(),
              f"refused with status 2 and a message: {' '.join(argv)} ({r.returncode})")
    r = lab.exec(ns, UDPGEN, "send", "--help", check_rc=False)
    check(r.returncode == 0 and "--rate" in r.stdout, "send --help: usage on stdout, status 0")


def main():
    lab = Lab("ugen")
    try:
        ns = lab.ns("ugen")
        paced(lab, ns, "127.0.0.1:9000", "127.0.0.1", 0xabc, 20000, 1)
        paced(lab, ns, "[::1]:9000", "::1", 0xabd, 5000, 1)
        sorting(lab, ns)
        flood(lab, ns)
        backpressure(lab, ns)
        refusals(lab, ns)
    finally:
        lab.close()
    print(f"udpgen_test: {netns.passed} passed, {netns.failed} failed")
    return 1 if netns.failed else 0


if __name__ == "__main__":
    netns.run_main(main)
