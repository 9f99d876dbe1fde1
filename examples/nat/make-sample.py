#!/usr/bin/python3
"""Writes pcscf-side.pcap: what reaches the P-CSCF's espnat in one
registration behind a NAT, in order. The UE's ESP-in-UDP is made by espnat
with ue.sa, then passed through a NAPT played here (source 10.0.0.7:4500
becomes 198.51.100.7:port_Uenc). Usage: make-sample.py ESPNAT [OUT]"""
import os
import subprocess
import sys
import tempfile

from scapy.all import IP, UDP, Raw, rdpcap, wrpcap

ESPNAT = sys.argv[1]
OUT = sys.argv[2] if len(sys.argv) > 2 else "pcscf-side.pcap"
HERE = os.path.dirname(os.path.abspath(__file__))
UE_PUB, PCSCF = "198.51.100.7", "203.0.113.5"
PORT_UC, PORT_US, PORT_PC, PORT_PS = 5062, 5064, 5066, 5068


def sip(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def register(cseq):
    return sip("REGISTER sip:ims.example.net SIP/2.0",
               f"Via: SIP/2.0/UDP {UE_PUB}:{PORT_US};branch=z9hG4bK-r{cseq}",
               "From: <sip:alice@ims.example.net>;tag=a1",
               "To: <sip:alice@ims.example.net>",
               "Call-ID: reg-1@10.0.0.7", f"CSeq: {cseq} REGISTER",
               f"Contact: <sip:alice@{UE_PUB}:{PORT_US}>",
               "Security-Verify: ipsec-3gpp;q=0.1;alg=hmac-sha-1-96;ealg=aes-cbc;"
               f"mod=UDP-enc-tun;spi-c=3333;spi-s=4444;port-c={PORT_PC};port-s={PORT_PS}",
               "Content-Length: 0")


def ue_protect(plain):
    """The UE's espnat protects its SIP packets, 4500 -> 4500."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.pcap"), os.path.join(tmp, "out.pcap")
        wrpcap(src, plain)
        subprocess.run([ESPNAT, "pcap", "-q", "--sa", os.path.join(HERE, "ue.sa"),
                        "--in", src, "--out", dst], check=True)
        return [IP(bytes(p)) for p in rdpcap(dst)]


def napt(pkt, port):
    """The NAT: private source and port 4500 become public address and port."""
    pkt = pkt.copy()
    pkt[IP].src = UE_PUB
    pkt[UDP].sport = port
    del pkt[IP].chksum
    return IP(bytes(pkt))


sm7, req3, req4 = ue_protect([
    IP(src=UE_PUB, dst=PCSCF) / UDP(sport=PORT_UC, dport=PORT_PS) / Raw(register(2)),
    IP(src=UE_PUB, dst=PCSCF) / UDP(sport=PORT_UC, dport=PORT_PS) / Raw(register(3)),
    IP(src=UE_PUB, dst=PCSCF) / UDP(sport=PORT_UC, dport=PORT_PS) / Raw(register(4)),
])
forged = bytearray(bytes(napt(req3, 41000)))
forged[-1] ^= 0x01

sm12 = sip("SIP/2.0 200 OK", f"Via: SIP/2.0/UDP {UE_PUB}:{PORT_US};branch=z9hG4bK-r2",
           "CSeq: 2 REGISTER", "Content-Length: 0")
message = sip(f"MESSAGE sip:alice@{UE_PUB}:{PORT_US} SIP/2.0",
              f"Via: SIP/2.0/UDP {PCSCF}:{PORT_PC};branch=z9hG4bK-m1",
              "CSeq: 1 MESSAGE", "Content-Length: 0")
options = sip(f"OPTIONS sip:{PCSCF} SIP/2.0", "CSeq: 1 OPTIONS", "Content-Length: 0")

timeline = [
    # before SM7 nothing can reach the UE: dropped (no_port), not sent in clear
    (0.0, IP(src=PCSCF, dst=UE_PUB) / UDP(sport=PORT_PC, dport=PORT_US) / Raw(message)),
    # SM7 through the NAT, from port_Uenc 40123: learned
    (1.0, napt(sm7, 40123)),
    # SM12 goes back to 198.51.100.7:40123
    (1.1, IP(src=PCSCF, dst=UE_PUB) / UDP(sport=PORT_PS, dport=PORT_UC) / Raw(sm12)),
    # a NAT keepalive on the binding
    (21.0, IP(src=UE_PUB, dst=PCSCF) / UDP(sport=40123, dport=4500) / Raw(b"\xff")),
    # a forged packet from another port: dropped, the port stays
    (30.0, IP(bytes(forged))),
    # the NAT rebound: the UE's next authenticated packet comes from 40999
    (40.0, napt(req4, 40999)),
    # a P-CSCF-initiated request now goes to the new port
    (40.5, IP(src=PCSCF, dst=UE_PUB) / UDP(sport=PORT_PC, dport=PORT_US) / Raw(message)),
    # SM7 replayed from the new binding: dropped as a replay
    (41.0, napt(sm7, 40999)),
    # much later, unrelated traffic; the binding has been silent since 40 s
    (200.0, IP(src=UE_PUB, dst=PCSCF) / UDP(sport=5060, dport=5060) / Raw(options)),
]
packets = []
for t, p in timeline:
    p.time = 1764400000 + t
    packets.append(p)
wrpcap(OUT, packets, linktype=101)
