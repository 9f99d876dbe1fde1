#!/usr/bin/python3
"""`espnat pcap` from the outside: exit codes, error messages, the
per-packet rules of the exact interface, the counters JSON, link types and
the output format. Usage: pcap_cli.py path/to/espnat"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from scapy.all import (ARP, CookedLinux, Dot1Q, Ether, IP, IPv6, Raw, UDP,
                       rdpcap, wrpcap)

ESPNAT = sys.argv[1]
KEYS = ("auth-trunc 'hmac(sha1)' 0x000102030405060708090a0b0c0d0e0f10111213 96 "
        "enc 'cbc(aes)' 0x2b7e151628aed2a6abf7158809cf4f3c")
UE, PCSCF = "192.0.2.10", "203.0.113.5"
SA_OUT = (f"src {UE} dst {PCSCF} proto esp spi 0x1000 {KEYS} "
          f"sel src {UE} dst {PCSCF} proto udp sport 5062 dport 5068 dir out")
SA_IN = f"src {UE} dst {PCSCF} proto esp spi 0x1000 {KEYS} dir in"

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}", file=sys.stderr)


def espnat(*args):
    return subprocess.run([ESPNAT, *args], capture_output=True, text=True, timeout=60)


def pcap(tmp, name, sa_lines, packets, *extra):
    sa = os.path.join(tmp, name + ".sa")
    with open(sa, "w") as f:
        f.write("\n".join(sa_lines) + "\n")
    inp, out = os.path.join(tmp, name + ".in.pcap"), os.path.join(tmp, name + ".out.pcap")
    stats = os.path.join(tmp, name + ".json")
    wrpcap(inp, packets)
    r = espnat("pcap", "--sa", sa, "--in", inp, "--out", out, "--stats-json", stats, *extra)
    st = json.load(open(stats)) if r.returncode == 0 else None
    outs = list(rdpcap(out)) if r.returncode == 0 else []
    return r, st, outs, out


def test_usage(tmp):
    check(espnat().returncode == 2, "no command exits 2")
    r = espnat("--help")
    check(r.returncode == 0 and "pcap" in r.stdout, "--help lists pcap")
    r = espnat("pcap", "--help")
    check(r.returncode == 0 and "--stats-json" in r.stdout, "pcap --help lists its options")
    check(espnat("pcap").returncode == 2, "pcap without options exits 2")
    check(espnat("pcap", "--sa", "x", "--in", "y").returncode == 2, "missing --out exits 2")
    check(espnat("pcap", "--bogus").returncode == 2, "unknown option exits 2")
    check(espnat("bogus").returncode == 2, "unknown command exits 2")
    check(espnat("--version").stdout.startswith("espnat "), "--version")


def test_errors(tmp):
    sa = os.path.join(tmp, "bad.sa")
    with open(sa, "w") as f:
        f.write("# fine\n" + SA_IN + "\n" + SA_OUT.replace("dir out", "flag wat") + "\n")
    good_in = os.path.join(tmp, "one.pcap")
    wrpcap(good_in, [Ether() / IP() / UDP()])
    out = os.path.join(tmp, "o.pcap")
    r = espnat("pcap", "--sa", sa, "--in", good_in, "--out", out)
    check(r.returncode == 1, "bad SA file exits 1")
    check("bad.sa: line 3: unknown word 'flag'" in r.stderr, f"bad SA file names line and word: {r.stderr!r}")

    with open(sa, "w") as f:
        f.write(SA_IN + "\n" + SA_IN.replace("dir in", "dir out") + "\n")
    r = espnat("pcap", "--sa", sa, "--in", good_in, "--out", out)
    check(r.returncode == 1 and "line 2" in r.stderr and "SPI" in r.stderr,
          f"duplicate (SPI, dst) refused with its line: {r.stderr!r}")

    with open(sa, "w") as f:
        f.write(SA_IN + "\n")
    r = espnat("pcap", "--sa", sa, "--in", os.path.join(tmp, "missing.pcap"), "--out", out)
    check(r.returncode == 1 and "missing.pcap" in r.stderr, "missing input exits 1 and names it")
    r = espnat("pcap", "--sa", os.path.join(tmp, "nope.sa"), "--in", good_in, "--out", out)
    check(r.returncode == 1 and "nope.sa" in r.stderr, "missing SA file exits 1")
    r = espnat("pcap", "--sa", sa, "--in", good_in, "--out", os.path.join(tmp, "no/dir/o.pcap"))
    check(r.returncode == 1, "unwritable output exits 1")
    notpcap = os.path.join(tmp, "text.pcap")
    with open(notpcap, "w") as f:
        f.write("this is not a capture\n")
    r = espnat("pcap", "--sa", sa, "--in", notpcap, "--out", out)
    check(r.returncode == 1, "a non-pcap input exits 1")


def protected_packets(tmp):
    """ESP packets made by a first run (the interop tests prove the format
    against Scapy and Wireshark; here they only feed the second run)."""
    plain = [Ether() / IP(src=UE, dst=PCSCF) / UDP(sport=5062, dport=5068) /
             Raw(f"REGISTER {i}".encode()) for i in range(3)]
    r, st, outs, _ = pcap(tmp, "mk", [SA_OUT], plain)
    check(r.returncode == 0 and st["encap"] == 3, "first run encapsulates 3")
    return [bytes(p) for p in outs]


def test_rules(tmp):
    esp = protected_packets(tmp)
    forged = bytearray(esp[1])
    forged[-1] ^= 1
    frames = [
        Ether() / IP(src=UE, dst=PCSCF) / UDP(sport=4500, dport=4500) / Raw(b"\xff"),  # 1 keepalive
        Ether() / IP(src=UE, dst=PCSCF) / UDP(sport=4500, dport=4500) / Raw(b"\0\0\0\0ike!"),  # 2 IKE
        Ether() / IP(esp[0]),                               # 3 decap
        Ether() / IP(bytes(forged)),                        # 4 auth
        Ether() / IP(esp[0]),                               # 5 replay
        Ether() / IP(esp[2]),                               # 6 decap (seq 3 after 1: in window)
        Ether() / IP(src=UE, dst=PCSCF) / UDP(sport=5062, dport=5068) / Raw(b"SIP"),  # 7 encap
        Ether() / IP(src=UE, dst=PCSCF) / UDP(sport=5060, dport=5060) / Raw(b"SIP"),  # 8 bypass
        Ether() / ARP(),                                    # 9 not IP
        Ether() / IP(src=UE, dst=PCSCF, len=500) / UDP() / Raw(b"short"),  # 10 lies: malformed
        Ether() / IP(src=UE, dst="198.51.100.1") / Raw(b"\x00\x00\x10\x00\x00\x00\x00\x01" + bytes(40)),  # 11 no SA
    ]
    frames[10][IP].proto = 50
    for i, f in enumerate(frames):
        f.time = 1700000000 + i
    r, st, outs, out = pcap(tmp, "rules", [SA_IN, SA_OUT.replace("spi 0x1000", "spi 0x2000")], frames)
    check(r.returncode == 0, f"mixed capture runs: {r.stderr}")
    want = {"packets": 10, "keepalive": 1, "bypass": 2, "decap": 2, "encap": 1,
            "dropped": 4, "auth": 1, "replay": 1, "malformed": 1, "no_sa": 1,
            "skipped_non_ip": 1, "written": 5}
    for k, v in want.items():
        check(st.get(k) == v, f"stats {k}: {st.get(k)} != {v}")
    check(sum(st[k] for k in ("auth", "replay", "malformed", "no_sa", "bad_padding",
                              "bad_length", "policy", "fragment")) == st["dropped"],
          "drop reasons add up to dropped")
    # written in processing order, timestamps kept: 2 3 6 7 8
    times = [int(p.time) - 1700000000 for p in outs]
    check(times == [1, 2, 5, 6, 7], f"output order/timestamps {times}")
    check(bytes(outs[1]) == bytes(IP(src=UE, dst=PCSCF) / UDP(sport=5062, dport=5068) / Raw(b"REGISTER 0")),
          "decap output is the original packet")
    check(outs[3][IP].proto == 50, "encap output is ESP")
    check(bytes(outs[0])[-8:] == b"\0\0\0\0ike!"[-8:], "IKE passes unchanged")
    with open(out, "rb") as f:
        magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", f.read(24))
    check(linktype == 101, f"output link type {linktype} is LINKTYPE_RAW")
    check(st["sas"][0]["spi"] == "0x00001000" and st["sas"][0]["packets"] == 2,
          "per-SA counters in JSON")
    check(st["sas"][0]["drops"].get("replay") == 1, "per-SA drop reasons in JSON")
    # -v: one line per packet, and stdout stats with "-"
    r = espnat("pcap", "--sa", os.path.join(tmp, "rules.sa"), "--in", os.path.join(tmp, "rules.in.pcap"),
               "--out", os.path.join(tmp, "v.pcap"), "-v", "-q", "--stats-json", "-")
    lines = r.stdout.splitlines()
    check(lines[0] == "1 keepalive" and lines[3] == "4 drop auth spi 0x00001000",
          f"-v lines: {lines[:4]}")
    check(json.loads(lines[-1])["packets"] == 10, "--stats-json - prints JSON on stdout")


def test_link_types(tmp):
    esp = protected_packets(tmp)
    inner = IP(esp[0])
    variants = {
        "vlan": Ether() / Dot1Q(vlan=7) / inner,
        "qinq": Ether() / Dot1Q(vlan=7) / Dot1Q(vlan=8) / inner,
        "sll": CookedLinux(proto=0x0800) / inner,
    }
    for name, frame in variants.items():
        r, st, outs, _ = pcap(tmp, name, [SA_IN], [frame])
        check(r.returncode == 0 and st["decap"] == 1, f"{name} input decapsulated")
    # raw IP input: write LINKTYPE_RAW ourselves
    raw = os.path.join(tmp, "raw.in.pcap")
    wrpcap(raw, [inner], linktype=101)
    sa = os.path.join(tmp, "vlan.sa")
    stats = os.path.join(tmp, "raw.json")
    r = espnat("pcap", "--sa", sa, "--in", raw, "--out", os.path.join(tmp, "raw.out.pcap"),
               "--stats-json", stats)
    check(r.returncode == 0 and json.load(open(stats))["decap"] == 1, "raw-IP input decapsulated")
    # IPv6 plaintext passes through untouched
    r, st, outs, _ = pcap(tmp, "v6", [SA_IN], [Ether() / IPv6() / UDP() / Raw(b"x" * 30)])
    check(st["bypass"] == 1 and bytes(outs[0]) == bytes(IPv6() / UDP() / Raw(b"x" * 30)),
          "IPv6 bypass unchanged")
    # Ethernet padding after a short packet is not carried into the output
    short = Ether() / IP(src=UE, dst="198.51.100.9") / UDP() / Raw(b"x")
    padded = Ether(bytes(short) + b"\0" * 10)
    r, st, outs, _ = pcap(tmp, "pad", [SA_IN], [padded])
    check(len(bytes(outs[0])) == 29, "link padding stripped")


def test_nat_sample(tmp):
    """The bundled NAT capture: port_Uenc learned from SM7, used, moved by
    an authenticated packet only, the table shown as the seed lays it out."""
    sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "nat")
    out = os.path.join(tmp, "nat.out.pcap")
    r = espnat("pcap", "--sa", os.path.join(sample, "pcscf.sa"), "--in",
               os.path.join(sample, "pcscf-side.pcap"), "--out", out, "-v",
               "--show-table", "--silent-after", "60")
    check(r.returncode == 0, f"NAT sample runs: {r.stderr}")
    events = [l for l in r.stdout.splitlines() if l.startswith("event ")]
    check(events == [
        "event learned reqid=1 peer=198.51.100.7 port=40123 spi=0x0000115c",
        "event moved reqid=1 peer=198.51.100.7 port=40999 old_port=40123 spi=0x0000115c",
        "event silent reqid=1 peer=198.51.100.7 port=40999 quiet=160s"], f"events: {events}")
    tables = r.stdout.split("UDP encapsulation table, reqid 1:\n")[1:]
    check(len(tables) == 3, f"{len(tables)} tables printed")
    rows = [dict((l[:11].strip(), l[11:].split()) for l in t.splitlines()[1:6]) for t in tables]
    check(rows[0]["Src Port"] == ["4500", "undef", "4500", "undef"] and
          rows[0]["Dest Port"] == ["undef", "4500", "undef", "4500"], f"table before SM7: {rows[0]}")
    check(rows[1]["Src Port"] == ["4500", "40123", "4500", "40123"] and
          rows[1]["Dest Port"] == ["40123", "4500", "40123", "4500"], f"table after SM7: {rows[1]}")
    check(rows[2]["Dest Port"] == ["40999", "4500", "40999", "4500"], f"table after rebinding: {rows[2]}")
    check(rows[0]["SPI"] == ["0x000008ae", "0x0000115c", "0x00000457", "0x00000d05"], "SPI row")
    check("1 drop no_port" in r.stdout and "5 drop auth" in r.stdout and "8 drop replay" in r.stdout,
          "fail closed before SM7, forged and replayed packets dropped")
    outs = [IP(bytes(p)) for p in rdpcap(out)]
    encs = [p for p in outs if p.haslayer(UDP) and p[UDP].sport == 4500]
    check([p[UDP].dport for p in encs] == [40123, 40999], f"outbound dports {[p[UDP].dport for p in encs]}")
    check(all(p[UDP].chksum == 0 for p in encs), "ESP-in-UDP over IPv4 sent with checksum 0")


def test_wireshark_sa(tmp):
    """--wireshark-sa: an esp_sa table Wireshark accepts, private to its owner,
    with which tshark shows the SIP inside the NAT sample's ESP-in-UDP."""
    sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "nat")
    conf = os.path.join(tmp, "wsconf")
    os.makedirs(os.path.join(conf, "wireshark"))
    uat = os.path.join(conf, "wireshark", "esp_sa")
    r = espnat("pcap", "-q", "--sa", os.path.join(sample, "pcscf.sa"), "--in",
               os.path.join(sample, "pcscf-side.pcap"), "--out", os.path.join(tmp, "ws.pcap"),
               "--wireshark-sa", uat)
    check(r.returncode == 0, f"--wireshark-sa run: {r.stderr}")
    check(os.stat(uat).st_mode & 0o777 == 0o600, "esp_sa file is 0600")
    lines = [l for l in open(uat) if l.startswith('"')]
    check(len(lines) == 4 and lines[1].startswith('"IPv4","198.51.100.7","203.0.113.5","0x0000115c",'
                                                 '"AES-CBC [RFC3602]","0x'), f"esp_sa lines: {lines[:2]}")
    if not shutil.which("tshark"):
        check(False, "tshark is not installed")
        return
    t = subprocess.run(["tshark", "-r", os.path.join(sample, "pcscf-side.pcap"),
                        "-o", "esp.enable_encryption_decode:TRUE",
                        "-o", "esp.enable_authentication_check:TRUE",
                        "-Y", "esp && sip", "-T", "fields", "-e", "sip.CSeq", "-e", "esp.icv_good"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, XDG_CONFIG_HOME=conf, HOME=tmp))
    got = [l.split("\t") for l in t.stdout.splitlines()]
    # SM7, the forged one (ICV bad), the rebinding REGISTER, SM7 replayed
    check(got == [["2 REGISTER", "1"], ["3 REGISTER", "0"], ["4 REGISTER", "1"], ["2 REGISTER", "1"]],
          f"tshark decrypts the sample with espnat's esp_sa: {got}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_nat_sample(tmp)
        test_wireshark_sa(tmp)
        test_usage(tmp)
        test_errors(tmp)
        test_rules(tmp)
        test_link_types(tmp)
    print(f"pcap_cli: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
