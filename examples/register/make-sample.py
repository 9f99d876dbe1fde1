#!/usr/bin/python3
"""Writes sip-plain.pcap: the SIP side of a registration as the two SIP
stacks hand it to IPsec (the input of the `espnat pcap` demo). Run with
Debian's python3 (python3-scapy)."""
import sys

from scapy.all import Ether, IP, UDP, Raw, wrpcap

UE, PCSCF = "192.0.2.10", "203.0.113.5"
PORT_UC, PORT_US, PORT_PC, PORT_PS = 5062, 5064, 5066, 5068


def sip(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


SM1 = sip(
    "REGISTER sip:ims.example.net SIP/2.0",
    f"Via: SIP/2.0/UDP {UE}:5060;branch=z9hG4bK-sm1;rport",
    "From: <sip:alice@ims.example.net>;tag=a1",
    "To: <sip:alice@ims.example.net>",
    "Call-ID: reg-1@192.0.2.10",
    "CSeq: 1 REGISTER",
    f"Contact: <sip:alice@{UE}:5060>",
    "Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;"
    f"spi-c=1111;spi-s=2222;port-c={PORT_UC};port-s={PORT_US}",
    "Require: sec-agree",
    "Proxy-Require: sec-agree",
    "Content-Length: 0")
SM7 = sip(
    "REGISTER sip:ims.example.net SIP/2.0",
    f"Via: SIP/2.0/UDP {UE}:{PORT_US};branch=z9hG4bK-sm7",
    "From: <sip:alice@ims.example.net>;tag=a1",
    "To: <sip:alice@ims.example.net>",
    "Call-ID: reg-1@192.0.2.10",
    "CSeq: 2 REGISTER",
    f"Contact: <sip:alice@{UE}:{PORT_US}>",
    "Authorization: Digest username=\"alice@ims.example.net\",realm=\"ims.example.net\","
    "nonce=\"3q2+7w==\",uri=\"sip:ims.example.net\",response=\"6629fae49393a05397450978507c4ef1\","
    "algorithm=AKAv1-MD5",
    "Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;"
    f"spi-c=1111;spi-s=2222;port-c={PORT_UC};port-s={PORT_US}",
    "Security-Verify: ipsec-3gpp;q=0.1;alg=hmac-sha-1-96;ealg=aes-cbc;"
    f"spi-c=3333;spi-s=4444;port-c={PORT_PC};port-s={PORT_PS}",
    "Require: sec-agree",
    "Proxy-Require: sec-agree",
    "Content-Length: 0")
SM12 = sip(
    "SIP/2.0 200 OK",
    f"Via: SIP/2.0/UDP {UE}:{PORT_US};branch=z9hG4bK-sm7",
    "From: <sip:alice@ims.example.net>;tag=a1",
    "To: <sip:alice@ims.example.net>;tag=s1",
    "Call-ID: reg-1@192.0.2.10",
    "CSeq: 2 REGISTER",
    f"Contact: <sip:alice@{UE}:{PORT_US}>;expires=600000",
    "Content-Length: 0")
MESSAGE = sip(
    f"MESSAGE sip:alice@{UE}:{PORT_US} SIP/2.0",
    f"Via: SIP/2.0/UDP {PCSCF}:{PORT_PC};branch=z9hG4bK-m1",
    "From: <sip:bob@ims.example.net>;tag=b1",
    "To: <sip:alice@ims.example.net>",
    "Call-ID: msg-1@203.0.113.5",
    "CSeq: 1 MESSAGE",
    "Content-Type: text/plain",
    "Content-Length: 5",
    "").rstrip(b"\r\n") + b"\r\n\r\nhello"


def frame(src, dst, sport, dport, payload):
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / \
        IP(src=src, dst=dst, id=1) / UDP(sport=sport, dport=dport) / Raw(payload)


packets = [
    # SM1 goes unprotected to the P-CSCF's ordinary port: passes through
    frame(UE, PCSCF, 5060, 5060, SM1),
    # SM7 from the UE's protected client port to the P-CSCF's server port
    frame(UE, PCSCF, PORT_UC, PORT_PS, SM7),
    # SM12 back along the other SA pair
    frame(PCSCF, UE, PORT_PS, PORT_UC, SM12),
    # a P-CSCF-initiated request to the UE's protected server port
    frame(PCSCF, UE, PORT_PC, PORT_US, MESSAGE),
]
for i, p in enumerate(packets):
    p.time = 1764400000 + i * 0.25
wrpcap(sys.argv[1] if len(sys.argv) > 1 else "sip-plain.pcap", packets)
