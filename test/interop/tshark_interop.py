#!/usr/bin/python3
"""Interoperability: Wireshark's ESP dissector verifies and decrypts espnat.

Usage: /usr/bin/python3 tshark_interop.py PATH/TO/espnat [--keep]

For every cell of cipher x integrity x mode x family x (ESP | ESP-in-UDP)
we build plaintext SIP REGISTER datagrams with Scapy, protect them with
`espnat pcap` and a `dir out` SA, and let tshark (libgcrypt, code we did not
write) check the result with an esp_sa table holding the same SA:

  espnat     espnat ran, protected every packet, wrote raw IP
  header     frame is (UDP 4500 ->) ESP with espnat's SPI and sequence 1..n
  icv        ICV reported good, and it is the last 12 bytes of the frame
  trailer    self-describing padding 1, 2, 3 ... and the right next header
  inner      decrypted packet has the original addresses, ports and bytes
  payload    decrypted UDP payload is the SIP text (SIP dissector: REGISTER)
  checksums  every IPv4 header and UDP checksum tshark checks is good
  icv-flip   negative control: one ICV byte flipped -> ICV reported bad
  wrong-auth negative control: another integrity key -> ICV reported bad
  wrong-enc  negative control: another cipher key -> no SIP text anywhere
             (not for NULL, which carries the SIP text in clear by design)

Prints failures, then `tshark_interop: N passed, M failed`; exits 1 if M > 0.
Needs Debian's python3 (scapy 2.5) and tshark 4.0; no root, no network.
"""

import ipaddress
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from itertools import product

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

ESPNAT_TIMEOUT = 30
TSHARK_TIMEOUT = 120
ICV_LEN = 12                    # both HMACs are truncated to 96 bits
LINKTYPE_RAW = 101
SIP_PORT = 5060
NATT_PORT = 4500

# (name, espnat `enc` algorithm, key bytes, Wireshark esp_sa encryption).
# Wireshark 4.0 has a single "AES-CBC [RFC3602]" entry and picks AES-128/
# 192/256 from the key length; the "AES-CBC-128 [RFC3602]" strings in
# libwireshark are IKEv2 transform names, not esp_sa values.
CIPHERS = [
    ("NULL", "ecb(cipher_null)", 0, "NULL"),
    ("AES-CBC-128", "cbc(aes)", 16, "AES-CBC [RFC3602]"),
    ("AES-CBC-192", "cbc(aes)", 24, "AES-CBC [RFC3602]"),
    ("AES-CBC-256", "cbc(aes)", 32, "AES-CBC [RFC3602]"),
    ("3DES-CBC", "cbc(des3_ede)", 24, "TripleDES-CBC [RFC2451]"),
]
# (name, espnat `auth-trunc` algorithm, key bytes, Wireshark esp_sa auth.)
AUTHS = [
    ("HMAC-MD5-96", "hmac(md5)", 16, "HMAC-MD5-96 [RFC2403]"),
    ("HMAC-SHA-1-96", "hmac(sha1)", 20, "HMAC-SHA-1-96 [RFC2404]"),
]
MODES = ["transport", "tunnel"]
FAMILIES = [4, 6]
ENCAPS = [False, True]

# Lengths of an extra SIP header's value: the datagrams differ by a few
# bytes so the ESP padding takes many different lengths, plus one long one.
FILLERS = [0, 1, 2, 3, 5, 8, 13, 700]

TSHARK_FIELDS = [
    "frame.protocols", "esp.spi", "esp.sequence", "esp.icv", "esp.icv_good",
    "esp.icv_bad", "esp.pad", "esp.protocol", "esp.decrypted_data",
    "esp.contained_data", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "ip.checksum.status", "udp.srcport", "udp.dstport", "udp.checksum.status",
    "udp.payload", "sip.Method", "data.data",
]


# tshark runs: (name, which esp_sa key is replaced by another, capture).
TSHARK_RUNS = [
    ("good", None, "all.pcap"),
    ("icv-flip", None, "all-icv-flipped.pcap"),
    ("wrong-auth", "auth", "all.pcap"),
    ("wrong-enc", "enc", "all.pcap"),
]


@dataclass
class Cell:
    index: int
    cipher: tuple
    auth: tuple
    mode: str
    family: int
    encap: bool
    enc_key: bytes = b""
    auth_key: bytes = b""
    packets: list = field(default_factory=list)   # (ip bytes, sip bytes)
    frames: list = field(default_factory=list)    # espnat's output packets

    @property
    def name(self):
        return "/".join([self.cipher[0], self.auth[0], self.mode,
                         f"IPv{self.family}",
                         "ESP-in-UDP" if self.encap else "ESP"])

    @property
    def spi(self):
        # High bit set on purpose: SPIs are unsigned 32-bit everywhere.
        return 0xE5000000 + self.index

    def addr(self, role):
        """Inner ("isrc"/"idst") and tunnel outer ("osrc"/"odst") addresses."""
        n = {"isrc": 1, "idst": 2, "osrc": 3, "odst": 4}[role]
        if self.family == 4:
            return f"10.{n}.{self.index}.{n}"
        return f"fd00:{n}::{self.index:x}:{n}"

    @property
    def outer(self):
        if self.mode == "tunnel":
            return self.addr("osrc"), self.addr("odst")
        return self.addr("isrc"), self.addr("idst")

    @property
    def sport(self):
        return 40000 + self.index


# ---------------------------------------------------------------- results

class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cell, check, problems):
        """One check of one cell: passes when `problems` is empty."""
        if not problems:
            self.passed += 1
            return
        self.failed += 1
        where = cell.name if cell else "all cells"
        shown = problems[:3]
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        print(f"FAIL [{where}] {check}: " + "; ".join(shown) + more)


# ------------------------------------------------------------ pcap bytes

def read_pcap(path):
    """Returns (linktype, [packet bytes]) of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError(f"{path}: not a pcap file (magic {magic.hex()})")
    linktype = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    packets, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        packets.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    if off != len(data):
        raise ValueError(f"{path}: truncated record at offset {off}")
    return linktype, packets


def write_raw_pcap(path, packets):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535,
                            LINKTYPE_RAW))
        for i, pkt in enumerate(packets):
            f.write(struct.pack("<IIII", i, 0, len(pkt), len(pkt)))
            f.write(pkt)


# ------------------------------------------------------------ the inputs

def make_keys(cell):
    # Fixed per-cell seeds: a failure reproduces with the same keys.
    rng = random.Random(cell.index)
    cell.auth_key = rng.randbytes(cell.auth[2])
    while True:
        cell.enc_key = rng.randbytes(cell.cipher[2])
        if cell.cipher[0] != "3DES-CBC":
            break
        k1, k2, k3 = cell.enc_key[:8], cell.enc_key[8:16], cell.enc_key[16:]
        if k1 != k2 and k2 != k3 and k1 != k3:
            break


def sip_register(cell, n, filler):
    host = cell.addr("isrc")
    if cell.family == 6:
        host = f"[{host}]"
    user = f"cell{cell.index}"
    lines = [
        "REGISTER sip:registrar.example.net SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{cell.sport}"
        f";branch=z9hG4bK{cell.index:03d}x{n}",
        "Max-Forwards: 70",
        f"From: <sip:{user}@example.net>;tag={n:04d}",
        f"To: <sip:{user}@example.net>",
        f"Call-ID: {cell.index}-{n}@espnat.test",
        f"CSeq: {n + 1} REGISTER",
        f"Contact: <sip:{user}@{host}:{cell.sport}>",
        "X-Filler: " + "x" * filler,
        "Expires: 3600",
        "Content-Length: 0",
        "", "",
    ]
    return "\r\n".join(lines).encode()


def build_input(cell, path):
    ip_layer = IP if cell.family == 4 else IPv6
    frames = []
    for n, filler in enumerate(FILLERS):
        sip = sip_register(cell, n, filler)
        pkt = (ip_layer(src=cell.addr("isrc"), dst=cell.addr("idst")) /
               UDP(sport=cell.sport, dport=SIP_PORT) / Raw(sip))
        raw = bytes(pkt)            # lengths and checksums filled in
        cell.packets.append((raw, sip))
        frames.append(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                      / ip_layer(raw))
    wrpcap(path, frames)


def sa_line(cell):
    src, dst = cell.outer
    enc_key = f"0x{cell.enc_key.hex()}" if cell.enc_key else '""'
    words = [f"src {src} dst {dst} proto esp spi 0x{cell.spi:08x}",
             f"reqid {cell.index + 1} mode {cell.mode}",
             f"auth-trunc '{cell.auth[1]}' 0x{cell.auth_key.hex()} 96",
             f"enc '{cell.cipher[1]}' {enc_key}"]
    if cell.encap:
        oa = "0.0.0.0" if cell.family == 4 else "::"
        words.append(f"encap espinudp {NATT_PORT} {NATT_PORT} {oa}")
    words.append(f"sel src {cell.addr('isrc')} dst {cell.addr('idst')}")
    words.append("dir out")
    return " ".join(words) + "\n"


def run_espnat(espnat, cell, work):
    """Protects the cell's packets; returns a list of problems."""
    base = os.path.join(work, f"cell{cell.index:02d}")
    with open(base + ".sa", "w") as f:
        f.write(sa_line(cell))
    build_input(cell, base + "-in.pcap")
    cmd = [espnat, "pcap", "--sa", base + ".sa", "--in", base + "-in.pcap",
           "--out", base + "-out.pcap", "--stats-json", base + ".json", "-q"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=ESPNAT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return [f"espnat timed out after {ESPNAT_TIMEOUT}s"]
    except OSError as e:
        return [f"cannot run espnat: {e}"]
    if proc.returncode != 0:
        return [f"espnat exit {proc.returncode}: {proc.stderr.strip()}"]
    problems = []
    try:
        with open(base + ".json") as f:
            stats = json.load(f)
        linktype, cell.frames = read_pcap(base + "-out.pcap")
    except (OSError, ValueError) as e:
        return [f"unreadable espnat output: {e}"]
    want = len(FILLERS)
    if stats.get("encap") != want or stats.get("dropped") != 0:
        problems.append(f"stats encap={stats.get('encap')} "
                        f"dropped={stats.get('dropped')}, want {want} and 0")
    if linktype != LINKTYPE_RAW:
        problems.append(f"output linktype {linktype}, want {LINKTYPE_RAW}")
        cell.frames = []
    elif len(cell.frames) != want:
        problems.append(f"{len(cell.frames)} output packets, want {want}")
    return problems


# ------------------------------------------------------------ tshark

def other_key(key):
    # XOR with 0x5a rather than flipping bit 0: the low bit of each DES key
    # byte is parity and ignored, so that would not change a 3DES key at all.
    return bytes(b ^ 0x5A for b in key)


def esp_sa_uat(cells, wrong=None):
    """The esp_sa UAT file: one CSV line of 8 quoted fields per SA.
    wrong: None, "auth" or "enc": which key to replace by another one."""
    lines = []
    for cell in cells:
        enc_key, auth_key = cell.enc_key, cell.auth_key
        if wrong == "enc":
            enc_key = other_key(enc_key)
        elif wrong == "auth":
            auth_key = other_key(auth_key)
        src, dst = cell.outer
        fields = [f"IPv{cell.family}", src, dst, f"0x{cell.spi:08x}",
                  cell.cipher[3], f"0x{enc_key.hex()}" if enc_key else "",
                  cell.auth[3], f"0x{auth_key.hex()}"]
        lines.append(",".join(f'"{x}"' for x in fields))
    return "\n".join(lines) + "\n"


def make_profile(work, name, cells, wrong=None):
    """A private Wireshark config dir (used as XDG_CONFIG_HOME)."""
    home = os.path.join(work, name)
    conf = os.path.join(home, "wireshark")
    os.makedirs(conf)
    with open(os.path.join(conf, "esp_sa"), "w") as f:
        f.write(esp_sa_uat(cells, wrong))
    with open(os.path.join(conf, "preferences"), "w") as f:
        f.write("esp.enable_encryption_decode: TRUE\n"
                "esp.enable_authentication_check: TRUE\n")
    return home


def run_tshark(home, pcap):
    """Returns (list of per-frame {field: [values]}, error or None)."""
    cmd = ["tshark", "-n", "-r", pcap,
           # checksum verification is off by default; we want espnat's
           # rewritten/added headers and the decrypted inner ones checked
           "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
           "-T", "json"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    # HOME too, so that a ~/.wireshark of the user is not picked up instead.
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=TSHARK_TIMEOUT)
    except subprocess.TimeoutExpired:
        return [], f"tshark timed out after {TSHARK_TIMEOUT}s"
    except OSError as e:
        return [], f"cannot run tshark: {e}"
    if proc.returncode != 0:
        tail = proc.stderr.strip()[-300:]
        return [], f"tshark exit {proc.returncode}: {tail}"
    # tshark only warns, and exits 0, when it rejects an esp_sa line or a
    # preference; better to say so than to fail every check of every cell.
    for line in proc.stderr.splitlines():
        if "Error loading table" in line or "No such preference" in line:
            return [], f"tshark rejected its configuration: {line.strip()}"
    try:
        frames = json.loads(proc.stdout)
    except ValueError as e:
        return [], f"tshark output is not JSON: {e}"
    return [fr["_source"]["layers"] for fr in frames], None


# ------------------------------------------------------------ the checks

def norm_addrs(values):
    return [str(ipaddress.ip_address(v)) for v in values]


def expect(cell):
    """What tshark must show for a frame of this cell (lists of occurrences,
    outer header first)."""
    ipf = "ip" if cell.family == 4 else "ipv6"
    tunnel = cell.mode == "tunnel"
    natt = [str(NATT_PORT)] if cell.encap else []
    outer_src, outer_dst = cell.outer
    inner_proto = 0x04 if cell.family == 4 else 0x29      # IPv4 / IPv6
    return {
        "ipf": ipf,
        "protocols": ":".join(["raw", ipf]
                              + (["udp", "udpencap"] if cell.encap else [])
                              + ["esp"] + ([ipf] if tunnel else [])
                              + ["udp", "sip"]),
        "next_header": inner_proto if tunnel else 0x11,         # or UDP
        "src": norm_addrs([outer_src] * tunnel + [cell.addr("isrc")]),
        "dst": norm_addrs([outer_dst] * tunnel + [cell.addr("idst")]),
        "sport": natt + [str(cell.sport)],
        "dport": natt + [str(SIP_PORT)],
        "ip_csum": ["1"] * (1 + tunnel) if cell.family == 4 else [],
        # The outer UDP over IPv4 has no checksum (RFC 3948): "not present".
        "udp_csum": ((["3" if cell.family == 4 else "1"] if cell.encap else [])
                     + ["1"]),
    }


def check_good(cell, n, frame, layers, problems):
    """The right keys: everything about packet n must be as espnat meant."""
    raw, sip = cell.packets[n]
    want = expect(cell)
    ipf = want["ipf"]
    tag = f"pkt {n}"

    def get(name):
        return layers.get(name, [])

    p = problems["header"]
    if get("frame.protocols") != [want["protocols"]]:
        p.append(f"{tag}: protocols {get('frame.protocols')}, "
                 f"want {want['protocols']}")
    if [int(v, 16) for v in get("esp.spi")] != [cell.spi]:
        p.append(f"{tag}: esp.spi {get('esp.spi')}, want 0x{cell.spi:08x}")
    if get("esp.sequence") != [str(n + 1)]:
        p.append(f"{tag}: esp.sequence {get('esp.sequence')}, want {n + 1}")

    p = problems["icv"]
    if get("esp.icv_good") != ["1"] or get("esp.icv_bad") != ["0"]:
        p.append(f"{tag}: icv_good={get('esp.icv_good')} "
                 f"icv_bad={get('esp.icv_bad')}, want 1/0")
    # ... and what was verified is where the icv-flip control flips a byte.
    if get("esp.icv") != [frame[-ICV_LEN:].hex()]:
        p.append(f"{tag}: esp.icv {get('esp.icv')} is not the frame's "
                 f"last {ICV_LEN} bytes {frame[-ICV_LEN:].hex()}")

    p = problems["trailer"]
    pad = bytes.fromhex(get("esp.pad")[0]) if get("esp.pad") else b""
    if pad != bytes(range(1, len(pad) + 1)):
        p.append(f"{tag}: padding {pad.hex()} is not 01 02 03 ...")
    if [int(v, 16) for v in get("esp.protocol")] != [want["next_header"]]:
        p.append(f"{tag}: next header {get('esp.protocol')}, "
                 f"want 0x{want['next_header']:02x}")

    p = problems["inner"]
    src, dst = get(f"{ipf}.src"), get(f"{ipf}.dst")
    if norm_addrs(src) != want["src"] or norm_addrs(dst) != want["dst"]:
        p.append(f"{tag}: {ipf} src {src} dst {dst}, "
                 f"want {want['src']} {want['dst']}")
    sports, dports = get("udp.srcport"), get("udp.dstport")
    if sports != want["sport"] or dports != want["dport"]:
        p.append(f"{tag}: udp ports {sports} -> {dports}, "
                 f"want {want['sport']} -> {want['dport']}")
    # What ESP carried: the whole inner packet in tunnel mode, the UDP
    # datagram in transport mode; byte for byte what Scapy built.
    hdr = 20 if cell.family == 4 else 40
    plain = raw if cell.mode == "tunnel" else raw[hdr:]
    got = get("esp.contained_data")
    if got != [plain.hex()]:
        p.append(f"{tag}: decrypted data {got[0][:48] if got else None}... "
                 f"differs from the plaintext {plain.hex()[:48]}...")

    p = problems["payload"]
    payloads = get("udp.payload")
    if not payloads or payloads[-1] != sip.hex():
        got = bytes.fromhex(payloads[-1])[:40] if payloads else None
        p.append(f"{tag}: inner udp.payload starts {got!r}, "
                 f"want the SIP text {sip[:40]!r}")
    if get("sip.Method") != ["REGISTER"]:
        p.append(f"{tag}: sip.Method {get('sip.Method')}, want REGISTER")

    p = problems["checksums"]
    for name, key in (("ip.checksum.status", "ip_csum"),
                      ("udp.checksum.status", "udp_csum")):
        if get(name) != want[key]:
            p.append(f"{tag}: {name} {get(name)}, want {want[key]} "
                     "(0 bad, 1 good, 3 not present)")


def check_icv_bad(n, layers, problems, check, why):
    good, bad = layers.get("esp.icv_good"), layers.get("esp.icv_bad")
    if good != ["0"] or bad != ["1"]:
        problems[check].append(
            f"pkt {n}: {why}, yet icv_good={good} icv_bad={bad}, want 0/1")


def check_wrong_enc(cell, n, layers, problems):
    p = problems["wrong-enc"]
    # Without a decryption attempt the absence of SIP text would prove
    # nothing (e.g. an esp_sa entry that matches no packet).
    if not layers.get("esp.decrypted_data"):
        p.append(f"pkt {n}: tshark did not decrypt with the other key")
    marker = b"REGISTER sip:".hex()
    leaked = sorted(k for k, vs in layers.items()
                    if any(marker in v for v in vs))
    if leaked or "sip.Method" in layers:
        p.append(f"pkt {n}: SIP text visible with another {cell.cipher[0]} "
                 f"key (in {leaked or ['sip.Method']})")


# Which tshark run each per-packet check needs.
CHECK_RUN = {"header": "good", "icv": "good", "trailer": "good",
             "inner": "good", "payload": "good", "checksums": "good",
             "icv-flip": "icv-flip", "wrong-auth": "wrong-auth",
             "wrong-enc": "wrong-enc"}


def check_cell(res, cell, runs):
    """runs: tshark run name -> the layers of this cell's frames, in order,
    or None if that run failed (already counted as one failure)."""
    problems = {c: [] for c in CHECK_RUN}
    for n in range(len(cell.packets)):
        if n >= len(cell.frames):
            for c in problems:
                problems[c].append(f"pkt {n}: espnat wrote no frame for it")
            continue
        if runs["good"] is not None:
            check_good(cell, n, cell.frames[n], runs["good"][n], problems)
        if runs["icv-flip"] is not None:
            check_icv_bad(n, runs["icv-flip"][n], problems, "icv-flip",
                          f"ICV byte {n % ICV_LEN} flipped")
        if runs["wrong-auth"] is not None:
            check_icv_bad(n, runs["wrong-auth"][n], problems,
                          "wrong-auth", f"another {cell.auth[0]} key")
        if runs["wrong-enc"] is not None:
            check_wrong_enc(cell, n, runs["wrong-enc"][n], problems)

    for check, run in CHECK_RUN.items():
        if runs[run] is None:
            continue
        # The NULL cipher has no key: the SIP text is in clear by design.
        if check == "wrong-enc" and cell.cipher[0] == "NULL":
            continue
        res.check(cell, check, problems[check])


# ------------------------------------------------------------ main

def flip_icv_bytes(cells):
    """The cells' frames with one ICV byte flipped; which byte walks along
    the ICV from packet to packet."""
    out = []
    for cell in cells:
        for n, fr in enumerate(cell.frames):
            pos = len(fr) - ICV_LEN + n % ICV_LEN
            out.append(fr[:pos] + bytes([fr[pos] ^ 0xFF]) + fr[pos + 1:])
    return out


def run_all(espnat, cells, work, res):
    # One espnat run per cell (a bad cell cannot spoil the others), then
    # all outputs in one capture, so that tshark runs only four times.
    checked = []
    for cell in cells:
        res.check(cell, "espnat", run_espnat(espnat, cell, work))
        if cell.frames:
            checked.append(cell)
    frames = [fr for cell in checked for fr in cell.frames]
    if not frames:
        res.check(None, "tshark", ["espnat wrote nothing to check"])
        return
    write_raw_pcap(os.path.join(work, "all.pcap"), frames)
    write_raw_pcap(os.path.join(work, "all-icv-flipped.pcap"),
                   flip_icv_bytes(checked))

    runs = {}
    for name, wrong, pcap in TSHARK_RUNS:
        home = make_profile(work, name, cells, wrong)
        layers, err = run_tshark(home, os.path.join(work, pcap))
        if not err and len(layers) != len(frames):
            err = f"tshark dissected {len(layers)} frames of {len(frames)}"
        res.check(None, f"tshark {name} run", [err] if err else [])
        runs[name] = None if err else layers

    pos = 0
    for cell in checked:
        end = pos + len(cell.frames)
        check_cell(res, cell, {
            name: None if layers is None else layers[pos:end]
            for name, layers in runs.items()})
        pos = end


def main(argv):
    args = [a for a in argv[1:] if a != "--keep"]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    espnat = os.path.abspath(args[0])

    cells = [Cell(i, *combo) for i, combo in enumerate(
        product(CIPHERS, AUTHS, MODES, FAMILIES, ENCAPS))]
    for cell in cells:
        make_keys(cell)

    res = Results()
    work = tempfile.mkdtemp(prefix="tshark_interop_")
    try:
        run_all(espnat, cells, work, res)
    finally:
        if "--keep" in argv:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"tshark_interop: {res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
