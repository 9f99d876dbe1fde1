#!/usr/bin/python3
"""Interoperability of espnat with Scapy's ESP implementation.

Usage: /usr/bin/python3 scapy_interop.py PATH/TO/espnat

Scapy's scapy.layers.ipsec (RFC 4303 ESP written independently of espnat, on
top of python3-cryptography) plays the peer. For every cell of
cipher x integrity x mode x address family x encapsulation:

  1. espnat encapsulates SIP-REGISTER-like UDP packets with a `dir out` SA;
     the outer format and the ESP trailer are checked, Scapy verifies the ICV
     and decrypts, and the recovered packets must equal the originals.
  2. Scapy encapsulates the same packets; espnat decapsulates them with a
     `dir in` SA and must output exactly the originals.
  3. Scapy packets with a flipped ciphertext bit and a flipped ICV bit must be
     dropped by espnat as "auth", and a replayed one as "replay".

Needs Debian's python3 (scapy 2.5 and python3-cryptography); no root, no
network. Prints one FAIL line per failed check and, last,
`scapy_interop: N passed, M failed`; exits 1 if anything failed.
"""

import hashlib
import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from collections import namedtuple

from scapy.compat import raw
from scapy.config import conf
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, IPSecIntegrityError, SecurityAssociation
from scapy.packet import Raw

# --------------------------------------------------------------------------
# The matrix

# align: the ESP payload + padding + 2 trailer bytes must be a multiple of
# this (RFC 4303 2.4: the cipher block size, and at least 4 bytes).
Cipher = namedtuple('Cipher', 'label xfrm scapy key_len iv_len align')
CIPHERS = (
    #      label          ip xfrm name        Scapy name key IV align
    Cipher('NULL',        'ecb(cipher_null)', 'NULL',     0, 0, 4),
    Cipher('AES-CBC-128', 'cbc(aes)',         'AES-CBC', 16, 16, 16),
    Cipher('AES-CBC-192', 'cbc(aes)',         'AES-CBC', 24, 16, 16),
    Cipher('AES-CBC-256', 'cbc(aes)',         'AES-CBC', 32, 16, 16),
    Cipher('3DES-CBC',    'cbc(des3_ede)',    '3DES',    24, 8, 8),
)

Auth = namedtuple('Auth', 'label xfrm scapy key_len icv_len')
AUTHS = (
    #    label           ip xfrm name  Scapy name      key ICV
    Auth('HMAC-MD5-96',  'hmac(md5)',  'HMAC-MD5-96',  16, 12),
    Auth('HMAC-SHA1-96', 'hmac(sha1)', 'HMAC-SHA1-96', 20, 12),
)

MODES = ('transport', 'tunnel')
FAMILIES = (4, 6)
ENCAPS = (False, True)          # plain ESP, ESP-in-UDP (RFC 3948)

Cell = namedtuple('Cell', 'index cipher auth mode family natt')

# Transport mode: host A talks to host B directly. Tunnel mode: hosts behind
# two gateways; the SA's src/dst are the gateways, the selector the hosts.
Net = namedtuple('Net', 'ip_cls hosts inner gateways any_addr')
NETS = {
    4: Net(IP, ('10.0.0.1', '10.0.0.2'), ('192.168.1.10', '192.168.2.20'),
           ('198.51.100.1', '203.0.113.2'), '0.0.0.0'),
    6: Net(IPv6, ('2001:db8::1', '2001:db8::2'), ('fd00:1::10', 'fd00:2::20'),
           ('2001:db8:a::1', '2001:db8:b::2'), '::'),
}

NATT_PORT = 4500
SIP_SPORT, SIP_DPORT = 5070, 5060
# 16 consecutive SIP payload lengths: with minimal padding every pad length
# 0..align-1 occurs for every cipher (align divides 16), in both modes.
PAYLOAD_LENS = range(480, 496)
REPLAY_WINDOW = 32
LINKTYPE_RAW = 101


def all_cells():
    product = itertools.product(CIPHERS, AUTHS, MODES, FAMILIES, ENCAPS)
    return [Cell(i, *c) for i, c in enumerate(product)]


def cell_name(cell):
    return '%s/%s/%s/IPv%d/%s' % (cell.cipher.label, cell.auth.label, cell.mode,
                                  cell.family, 'ESP-in-UDP' if cell.natt else 'ESP')


def cell_tag(cell, what):
    return '%s-%03d' % (what, cell.index)


def inner_addrs(cell):
    net = NETS[cell.family]
    return net.hosts if cell.mode == 'transport' else net.inner


def outer_addrs(cell):
    net = NETS[cell.family]
    return net.hosts if cell.mode == 'transport' else net.gateways


def cell_spi(cell, direction):
    # High bit set so that a signed/unsigned mix-up in SPI handling shows.
    return 0xc0000000 | cell.index << 8 | (1 if direction == 'in' else 2)


def cell_keys(cell, direction):
    """Deterministic keys, different in every cell and direction."""
    def derive(what, n):
        seed = '%s %s %s' % (cell_name(cell), direction, what)
        return hashlib.sha256(seed.encode()).digest()[:n]
    return derive('enc', cell.cipher.key_len), derive('auth', cell.auth.key_len)


# --------------------------------------------------------------------------
# Plaintext traffic

def host_port(addr, port):
    return '[%s]:%d' % (addr, port) if ':' in addr else '%s:%d' % (addr, port)


def sip_register(src, dst, n, length):
    """A SIP REGISTER of exactly `length` bytes (an X-Filler header absorbs
    the difference)."""
    head = ('REGISTER sip:registrar.example.net SIP/2.0\r\n'
            'Via: SIP/2.0/UDP %s;branch=z9hG4bK%08x;rport\r\n'
            'Max-Forwards: 70\r\n'
            'From: <sip:alice@example.net>;tag=%06x\r\n'
            'To: <sip:alice@example.net>\r\n'
            'Call-ID: %08x@%s\r\n'
            'CSeq: %d REGISTER\r\n'
            'Contact: <sip:alice@%s>\r\n'
            'Expires: 3600\r\n'
            'User-Agent: scapy_interop\r\n'
            % (host_port(src, SIP_SPORT), 0x5eed0000 + n, n, 0xca11 + n,
               host_port(src, SIP_SPORT), n, host_port(src, SIP_SPORT)))
    tail = 'Content-Length: 0\r\n\r\n'
    filler = length - len(head) - len(tail) - len('X-Filler: \r\n')
    assert filler >= 0, 'SIP head too long for %d bytes' % length
    msg = (head + 'X-Filler: ' + 'x' * filler + '\r\n' + tail).encode()
    assert len(msg) == length
    return msg


def plaintexts(cell):
    """The cell's plaintext packets as bytes (checksums filled in)."""
    src, dst = inner_addrs(cell)
    pkts = []
    for n, length in enumerate(PAYLOAD_LENS, 1):
        if cell.family == 4:
            ip = IP(src=src, dst=dst, id=0x4000 + n, ttl=64)
        else:
            ip = IPv6(src=src, dst=dst, hlim=64)
        udp = UDP(sport=SIP_SPORT, dport=SIP_DPORT)
        pkts.append(raw(ip / udp / Raw(sip_register(src, dst, n, length))))
    return pkts


# --------------------------------------------------------------------------
# Byte-level helpers, independent of Scapy's dissectors

def ones_sum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def pseudo_header(family, src, dst, proto, length):
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    addrs = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst)
    if family == 4:
        return addrs + struct.pack('!BBH', 0, proto, length)
    return addrs + struct.pack('!IxxxB', length, proto)


def udp_checksum(family, src, dst, segment):
    """The checksum `segment` (UDP header with a zero checksum + data) needs."""
    c = ~ones_sum(pseudo_header(family, src, dst, 17, len(segment)) + segment) & 0xffff
    return c or 0xffff


def udp_checksum_ok(family, src, dst, segment):
    return ones_sum(pseudo_header(family, src, dst, 17, len(segment)) + segment) == 0xffff


IPView = namedtuple('IPView', 'family hdr_len proto src dst payload')


def parse_ip(data, problems):
    """Splits an IP packet (no IPv6 extension headers expected); notes any
    malformed length or header checksum in `problems`."""
    version = data[0] >> 4 if data else 0
    if version == 4 and len(data) >= 20:
        hl = (data[0] & 0x0f) * 4
        total = struct.unpack('!H', data[2:4])[0]
        if total != len(data):
            problems.append('IPv4 total length %d, packet has %d bytes' % (total, len(data)))
        if ones_sum(data[:hl]) != 0xffff:
            problems.append('IPv4 header checksum 0x%04x is wrong' % struct.unpack('!H', data[10:12]))
        return IPView(4, hl, data[9], socket.inet_ntop(socket.AF_INET, data[12:16]),
                      socket.inet_ntop(socket.AF_INET, data[16:20]), data[hl:])
    if version == 6 and len(data) >= 40:
        plen = struct.unpack('!H', data[4:6])[0]
        if plen != len(data) - 40:
            problems.append('IPv6 payload length %d, packet has %d after the header'
                            % (plen, len(data) - 40))
        return IPView(6, 40, data[6], socket.inet_ntop(socket.AF_INET6, data[8:24]),
                      socket.inet_ntop(socket.AF_INET6, data[24:40]), data[40:])
    problems.append('not an IPv4/IPv6 packet (%d bytes)' % len(data))
    return None


def first_difference(got, want):
    for k, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return 'byte %d is 0x%02x, expected 0x%02x (lengths %d/%d)' % (
                k, a, b, len(got), len(want))
    return 'length %d, expected %d' % (len(got), len(want))


def flip_bit(data, offset, mask):
    return data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1:]


# --------------------------------------------------------------------------
# Scapy's side, and where Scapy 2.5 needs help

def scapy_sa(cell, keys, spi):
    enc_key, auth_key = keys
    kwargs = {}
    if cell.mode == 'tunnel':
        gw_src, gw_dst = outer_addrs(cell)
        kwargs['tunnel_header'] = NETS[cell.family].ip_cls(src=gw_src, dst=gw_dst)
    if cell.natt:
        kwargs['nat_t_header'] = UDP(sport=NATT_PORT, dport=NATT_PORT)
    return SecurityAssociation(ESP, spi=spi, crypt_algo=cell.cipher.scapy,
                               crypt_key=enc_key or None, auth_algo=cell.auth.scapy,
                               auth_key=auth_key, **kwargs)


def fix_scapy_natt(cell, data):
    """Repairs the UDP header of Scapy's ESP-in-UDP output.

    Scapy 2.5 serialises the outer IP/UDP header before the ESP is attached
    and re-parses it, which freezes the UDP length at 8 for IPv4; and it always
    sends UDP checksum 0, which IPv6 does not allow (RFC 8200 8.1). The ESP
    inside is Scapy's own and is left untouched. Applied after any tampering,
    so that a flipped ESP bit is not also a UDP checksum error.
    """
    if not cell.natt:
        return data
    hl = (data[0] & 0x0f) * 4 if cell.family == 4 else 40
    sport, dport = struct.unpack('!HH', data[hl:hl + 4])
    ulen = len(data) - hl
    seg = struct.pack('!HHHH', sport, dport, ulen, 0) + data[hl + 8:]
    if cell.family == 6:
        ip = parse_ip(data, [])
        ck = udp_checksum(6, ip.src, ip.dst, seg)
    else:
        ck = 0      # RFC 3948 2.1: an IPv4 sender SHOULD send zero
    return data[:hl] + struct.pack('!HHHH', sport, dport, ulen, ck) + data[hl + 8:]


def for_scapy_decrypt(cell, data, ip):
    """The packet to hand to SecurityAssociation.decrypt.

    Scapy 2.5 cannot decrypt IPv6 transport-mode ESP-in-UDP: it sets the next
    header on the UDP layer (which has no such field) and returns IPv6/UDP/UDP
    garbage. The UDP header has been checked by then, so it is removed and
    Scapy gets the plain IPv6/ESP packet it does handle.
    """
    if cell.natt and cell.family == 6 and cell.mode == 'transport':
        esp = ip.payload[8:]
        hdr = data[:4] + struct.pack('!HBB', len(esp), 50, data[7]) + data[8:40]
        return IPv6(hdr + esp)
    return NETS[cell.family].ip_cls(data)


def esp_trailer(cell, sa, esp, problems):
    """Decrypts ESP bytes (header .. ICV) with Scapy's cipher objects and
    returns (payload, padding, pad length, next header), or None.

    Scapy's decrypt() discards the padding without looking at it, so the
    padding rules (RFC 4303 2.4) are checked here.
    """
    body = esp[8:len(esp) - cell.auth.icv_len]
    iv, ct = body[:cell.cipher.iv_len], body[cell.cipher.iv_len:]
    if len(ct) < 2 or len(ct) % cell.cipher.align:
        problems.append('encrypted part is %d bytes, not a multiple of %d'
                        % (len(ct), cell.cipher.align))
        return None
    if sa.crypt_algo.cipher is None:
        pt = ct
    else:
        dec = sa.crypt_algo.new_cipher(sa.crypt_key, iv).decryptor()
        pt = dec.update(ct) + dec.finalize()
    padlen, nh = pt[-2], pt[-1]
    if padlen + 2 > len(pt):
        problems.append('pad length %d exceeds the %d-byte payload' % (padlen, len(pt)))
        return None
    end = len(pt) - 2 - padlen
    return pt[:end], pt[end:-2], padlen, nh


# --------------------------------------------------------------------------
# Running espnat

class Run:
    def __init__(self):
        self.error = None
        self.stats = {}
        self.out = []
        self.verdicts = {}


def write_pcap(path, packets):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
        for n, p in enumerate(packets):
            f.write(struct.pack('<IIII', 1700000000 + n, 0, len(p), len(p)))
            f.write(p)


def read_pcap(path):
    with open(path, 'rb') as f:
        data = f.read()
    for endian in '<>':
        if len(data) >= 24 and struct.unpack(endian + 'I', data[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d):
            break
    else:
        raise ValueError('not a pcap file')
    linktype = struct.unpack(endian + 'I', data[20:24])[0] & 0x0fffffff
    packets, off = [], 24
    while off + 16 <= len(data):
        incl, orig = struct.unpack(endian + 'II', data[off + 8:off + 16])
        if incl != orig or off + 16 + incl > len(data):
            raise ValueError('truncated record at offset %d' % off)
        packets.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    if off != len(data):
        raise ValueError('trailing bytes after the last record')
    return linktype, packets


def run_espnat(espnat, workdir, tag, sa_lines, packets):
    base = os.path.join(workdir, tag)
    with open(base + '.sa', 'w') as f:
        f.write(''.join(line + '\n' for line in sa_lines))
    write_pcap(base + '.in.pcap', packets)
    cmd = [espnat, 'pcap', '--sa', base + '.sa', '--in', base + '.in.pcap',
           '--out', base + '.out.pcap', '--stats-json', base + '.json', '-q', '-v']
    run = Run()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        run.error = 'could not run espnat: %s' % e
        return run
    if proc.returncode != 0:
        run.error = 'espnat exited %d: %s' % (proc.returncode, proc.stderr.strip())
        return run
    try:
        with open(base + '.json') as f:
            run.stats = json.load(f)
        linktype, run.out = read_pcap(base + '.out.pcap')
    except (OSError, ValueError) as e:
        run.error = 'unreadable espnat output: %s' % e
        return run
    if linktype != LINKTYPE_RAW:
        run.error = 'output linktype %d, expected LINKTYPE_RAW (%d)' % (linktype, LINKTYPE_RAW)
    # `-v` lines: "N decap spi 0x...", "N drop REASON spi 0x..."
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].isdigit():
            v = words[1] + (' ' + words[2] if words[1] == 'drop' and len(words) > 2 else '')
            run.verdicts[int(words[0])] = v
    return run


def sa_line(cell, keys, spi, direction):
    enc_key, auth_key = keys
    src, dst = outer_addrs(cell)
    sel_src, sel_dst = inner_addrs(cell)
    words = ['src', src, 'dst', dst, 'proto', 'esp', 'spi', '0x%08x' % spi,
             'reqid', str(cell.index + 1), 'mode', cell.mode]
    if direction == 'in':
        words += ['replay-window', str(REPLAY_WINDOW)]
    words += ['auth-trunc', "'%s'" % cell.auth.xfrm, '0x' + auth_key.hex(), '96',
              'enc', "'%s'" % cell.cipher.xfrm, '0x' + enc_key.hex() if enc_key else '""']
    if cell.natt:
        words += ['encap', 'espinudp', str(NATT_PORT), str(NATT_PORT), NETS[cell.family].any_addr]
    words += ['sel', 'src', sel_src, 'dst', sel_dst, 'proto', 'udp',
              'sport', str(SIP_SPORT), 'dport', str(SIP_DPORT), 'dir', direction]
    return ' '.join(words)


def stats_problems(run, **expected):
    if run.error:
        return [run.error]
    return ['stats %s = %s, expected %d' % (k, run.stats.get(k), v)
            for k, v in sorted(expected.items()) if run.stats.get(k) != v]


# --------------------------------------------------------------------------
# Bookkeeping

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def expect(self, what, problems):
        """One check: passes when `problems` (a list of strings) is empty."""
        if problems:
            self.failed += 1
            print('FAIL %s: %s' % (what, '; '.join(problems)))
        else:
            self.passed += 1


# --------------------------------------------------------------------------
# 1. espnat encapsulates, Scapy decapsulates

def inspect_espnat_esp(cell, sa, spi, seq, data, orig):
    """Everything about one espnat output packet; returns (problems, padlen)."""
    problems = []
    ip = parse_ip(data, problems)
    if ip is None:
        return problems, None
    want_src, want_dst = outer_addrs(cell)
    if ip.family != cell.family or (ip.src, ip.dst) != (want_src, want_dst):
        problems.append('outer IPv%d %s -> %s, expected IPv%d %s -> %s' % (
            ip.family, ip.src, ip.dst, cell.family, want_src, want_dst))
        return problems, None
    esp = ip.payload
    if cell.natt:
        if ip.proto != 17 or len(esp) < 16:
            problems.append('outer protocol %d, expected UDP (17)' % ip.proto)
            return problems, None
        sport, dport, ulen, uck = struct.unpack('!HHHH', esp[:8])
        if (sport, dport) != (NATT_PORT, NATT_PORT):
            problems.append('UDP ports %d -> %d, expected 4500 -> 4500' % (sport, dport))
        if ulen != len(esp):
            problems.append('UDP length %d, expected %d' % (ulen, len(esp)))
        if cell.family == 4 and uck != 0:
            problems.append('UDP checksum 0x%04x over IPv4, expected 0 (RFC 3948 2.1)' % uck)
        if cell.family == 6 and (uck == 0 or not udp_checksum_ok(6, ip.src, ip.dst, esp)):
            problems.append('UDP checksum 0x%04x over IPv6 is wrong' % uck)
        if esp[8:12] == b'\0\0\0\0':
            problems.append('starts with the non-ESP marker')
        esp = esp[8:]
    elif ip.proto != 50:
        problems.append('outer protocol %d, expected ESP (50)' % ip.proto)
        return problems, None
    if len(esp) < 8 + cell.cipher.iv_len + cell.auth.icv_len + 2:
        problems.append('ESP is only %d bytes' % len(esp))
        return problems, None
    got_spi, got_seq = struct.unpack('!II', esp[:8])
    if got_spi != spi:
        problems.append('SPI 0x%08x, expected 0x%08x' % (got_spi, spi))
    if got_seq != seq:
        problems.append('sequence number %d, expected %d' % (got_seq, seq))

    # The trailer, which Scapy does not check.
    padlen = None
    want_nh = 17 if cell.mode == 'transport' else (4 if cell.family == 4 else 41)
    trailer = esp_trailer(cell, sa, esp, problems)
    if trailer:
        payload, padding, padlen, nh = trailer
        if padding != bytes(range(1, padlen + 1)):
            problems.append('padding is %s, expected 01 02 .. %02x' % (padding.hex(), padlen))
        if nh != want_nh:
            problems.append('next header %d, expected %d' % (nh, want_nh))

    # Scapy's verdict: SPI check, ICV verification, decryption, decapsulation.
    try:
        recovered = raw(sa.decrypt(for_scapy_decrypt(cell, data, ip)))
    except IPSecIntegrityError:
        problems.append('Scapy: ICV %s does not verify' % esp[-cell.auth.icv_len:].hex())
        return problems, padlen
    except Exception as e:  # anything else Scapy objects to is a failure too
        problems.append('Scapy could not decrypt: %r' % e)
        return problems, padlen

    if cell.mode == 'tunnel':
        if recovered != orig:
            problems.append('inner packet differs: ' + first_difference(recovered, orig))
    else:
        inner = parse_ip(recovered, problems)
        want = parse_ip(orig, [])
        if inner:
            if (inner.src, inner.dst, inner.proto) != (want.src, want.dst, 17):
                problems.append('recovered %s -> %s proto %d, expected %s -> %s proto 17' % (
                    inner.src, inner.dst, inner.proto, want.src, want.dst))
            if inner.payload != want.payload:
                problems.append('recovered UDP segment differs: '
                                + first_difference(inner.payload, want.payload))
    return problems, padlen


def espnat_to_scapy(checks, espnat, workdir, cell):
    name = 'espnat->Scapy %s' % cell_name(cell)
    keys, spi = cell_keys(cell, 'out'), cell_spi(cell, 'out')
    originals = plaintexts(cell)
    n = len(originals)
    run = run_espnat(espnat, workdir, cell_tag(cell, 'out'),
                     [sa_line(cell, keys, spi, 'out')], originals)
    checks.expect(name + ': espnat run', stats_problems(run, packets=n, encap=n, dropped=0))
    checks.expect(name + ': output count',
                  [] if len(run.out) == n else ['%d packets out, expected %d' % (len(run.out), n)])

    sa = scapy_sa(cell, keys, spi)
    padlens = set()
    for k, orig in enumerate(originals):
        what = '%s: packet %d (%d-byte SIP payload)' % (name, k + 1, PAYLOAD_LENS[k])
        if k >= len(run.out):
            checks.expect(what, ['missing from the espnat output'])
            continue
        problems, padlen = inspect_espnat_esp(cell, sa, spi, k + 1, run.out[k], orig)
        padlens.add(padlen)
        checks.expect(what, problems)

    # espnat pads minimally (RFC 4303 would allow more), so the 16 payload
    # lengths must have produced each pad length 0..align-1.
    want_pads = set(range(cell.cipher.align))
    checks.expect(name + ': every pad length occurs',
                  [] if padlens == want_pads else
                  ['pad lengths seen %s, expected %s%s' % (
                      sorted(p for p in padlens if p is not None), sorted(want_pads),
                      ' (some trailers unreadable)' if None in padlens else '')])

    # Proves the ICV check above has teeth: Scapy must reject a damaged ICV.
    problems = []
    if run.out:
        data = flip_bit(run.out[0], len(run.out[0]) - 1, 0x01)
        ip = parse_ip(data, [])
        try:
            sa.decrypt(for_scapy_decrypt(cell, data, ip))
            problems.append('Scapy accepted packet 1 with a flipped ICV bit')
        except IPSecIntegrityError:
            pass
        except Exception as e:
            problems.append('Scapy failed with %r instead of an integrity error' % e)
    else:
        problems.append('no espnat output to tamper with')
    checks.expect(name + ': Scapy rejects a flipped ICV bit', problems)


# --------------------------------------------------------------------------
# 2. Scapy encapsulates, espnat decapsulates

def decap_problems(cell, data, orig):
    """How espnat's decapsulated packet differs from the original."""
    if cell.mode == 'tunnel':
        # The inner packet must come out byte for byte as it went in.
        return [] if data == orig else ['inner packet differs: ' + first_difference(data, orig)]
    # Transport mode: espnat rebuilds the IP header, so compare what matters.
    problems = []
    got = parse_ip(data, problems)          # also checks the IPv4 header checksum
    want = parse_ip(orig, [])
    if got is None:
        return problems
    if (got.family, got.src, got.dst) != (want.family, want.src, want.dst):
        problems.append('IPv%d %s -> %s, expected IPv%d %s -> %s' % (
            got.family, got.src, got.dst, want.family, want.src, want.dst))
    if got.proto != 17 or len(got.payload) < 8:
        problems.append('protocol %d, expected UDP (17)' % got.proto)
        return problems
    sport, dport, ulen, uck = struct.unpack('!HHHH', got.payload[:8])
    if (sport, dport) != (SIP_SPORT, SIP_DPORT):
        problems.append('UDP ports %d -> %d, expected %d -> %d' % (sport, dport, SIP_SPORT, SIP_DPORT))
    if ulen != len(got.payload):
        problems.append('UDP length %d, expected %d' % (ulen, len(got.payload)))
    if uck == 0 or not udp_checksum_ok(got.family, got.src, got.dst, got.payload):
        problems.append('UDP checksum 0x%04x is wrong' % uck)
    if got.payload[8:] != want.payload[8:]:
        problems.append('UDP payload differs: ' + first_difference(got.payload[8:], want.payload[8:]))
    return problems


def scapy_to_espnat(checks, espnat, workdir, cell):
    name = 'Scapy->espnat %s' % cell_name(cell)
    keys, spi = cell_keys(cell, 'in'), cell_spi(cell, 'in')
    originals = plaintexts(cell)
    n = len(originals)
    sa = scapy_sa(cell, keys, spi)
    ip_cls = NETS[cell.family].ip_cls
    # Scapy numbers the packets 1..n itself (seq_num starts at 1).
    encrypted = [fix_scapy_natt(cell, raw(sa.encrypt(ip_cls(p)))) for p in originals]
    run = run_espnat(espnat, workdir, cell_tag(cell, 'in'),
                     [sa_line(cell, keys, spi, 'in')], encrypted)
    checks.expect(name + ': espnat run', stats_problems(run, packets=n, decap=n, dropped=0))
    checks.expect(name + ': output count',
                  [] if len(run.out) == n else ['%d packets out, expected %d' % (len(run.out), n)])
    for k, orig in enumerate(originals):
        what = '%s: packet %d (%d-byte SIP payload)' % (name, k + 1, PAYLOAD_LENS[k])
        if k >= len(run.out):
            checks.expect(what, ['missing from the espnat output (verdict %s)'
                                 % run.verdicts.get(k + 1, 'unknown')])
            continue
        checks.expect(what, decap_problems(cell, run.out[k], orig))


# --------------------------------------------------------------------------
# 3. Tampered and replayed Scapy packets

def tampered_and_replayed(checks, espnat, workdir, cell):
    name = 'Scapy->espnat negative %s' % cell_name(cell)
    keys, spi = cell_keys(cell, 'in'), cell_spi(cell, 'in')
    originals = plaintexts(cell)[:3]
    sa = scapy_sa(cell, keys, spi)
    ip_cls = NETS[cell.family].ip_cls
    good = [raw(sa.encrypt(ip_cls(p))) for p in originals]     # seq 1, 2, 3
    esp_off = (good[0][0] & 0x0f) * 4 if cell.family == 4 else 40
    esp_off += 8 if cell.natt else 0
    # A bit in the middle of the encrypted part of seq 2, the last ICV bit of
    # seq 3. They reuse the sequence numbers of genuine packets that follow:
    # a forgery must not move the replay window, so the genuine 2 and 3 still
    # get through. The last packet replays seq 1.
    ct_offset = esp_off + 8 + cell.cipher.iv_len + 40
    ct_flipped = flip_bit(good[1], ct_offset, 0x10)
    icv_flipped = flip_bit(good[2], len(good[2]) - 1, 0x01)
    stream = [good[0], ct_flipped, icv_flipped, good[1], good[2], good[0]]
    stream = [fix_scapy_natt(cell, p) for p in stream]

    run = run_espnat(espnat, workdir, cell_tag(cell, 'neg'),
                     [sa_line(cell, keys, spi, 'in')], stream)
    if run.error:
        for what in ('auth drops', 'replay drop', 'genuine packets'):
            checks.expect('%s: %s' % (name, what), [run.error])
        return

    def verdict_problems(expected):
        return ['packet %d (%s): %s, expected %s' % (k, label, run.verdicts.get(k, 'no verdict'), v)
                for k, (label, v) in sorted(expected.items()) if run.verdicts.get(k) != v]

    checks.expect(name + ': auth drops',
                  verdict_problems({2: ('ciphertext bit flipped', 'drop auth'),
                                    3: ('ICV bit flipped', 'drop auth')})
                  + stats_problems(run, auth=2))
    checks.expect(name + ': replay drop',
                  verdict_problems({6: ('replay of seq 1', 'drop replay')})
                  + stats_problems(run, replay=1))
    problems = verdict_problems({1: ('seq 1', 'decap'), 4: ('seq 2', 'decap'),
                                 5: ('seq 3', 'decap')})
    problems += stats_problems(run, packets=6, decap=3, dropped=3)
    if len(run.out) != 3:
        problems.append('%d packets out, expected 3' % len(run.out))
    else:
        for k, (data, orig) in enumerate(zip(run.out, originals)):
            problems += ['seq %d: %s' % (k + 1, p) for p in decap_problems(cell, data, orig)]
    checks.expect(name + ': genuine packets', problems)


# --------------------------------------------------------------------------

def main(argv):
    if len(argv) != 2:
        print('usage: %s PATH/TO/espnat' % argv[0], file=sys.stderr)
        return 2
    espnat = os.path.abspath(argv[1])
    checks = Checks()
    if not conf.crypto_valid:
        checks.expect('setup', ['Scapy has no python3-cryptography: it cannot do ESP crypto'])
    elif not os.access(espnat, os.X_OK):
        checks.expect('setup', ['%s is not an executable' % espnat])
    else:
        workdir = tempfile.mkdtemp(prefix='scapy_interop.')
        try:
            for cell in all_cells():
                for direction in (espnat_to_scapy, scapy_to_espnat, tampered_and_replayed):
                    try:
                        direction(checks, espnat, workdir, cell)
                    except Exception:   # keep going: the other cells still count
                        checks.expect('%s %s' % (direction.__name__, cell_name(cell)),
                                      ['raised ' + traceback.format_exc().strip()])
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print('scapy_interop: %d passed, %d failed' % (checks.passed, checks.failed))
    return 1 if checks.failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
