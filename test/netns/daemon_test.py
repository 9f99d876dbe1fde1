#!/usr/bin/python3
"""espnatd in network namespaces made here: a P-CSCF and a UE joined by a
veth pair, each with its own espnatd, a UDP and a TCP exchange on the
protected ports in both directions, over the NFQUEUE and the TUN data
paths. Nothing in clear on the wire, at any time: not before the SAs are
there, not while the daemon is killed, not after. The control socket is
for root only and survives garbage.
Usage: daemon_test.py BUILD_DIR"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Capture, Lab, check, udp_exchange, tcp_exchange, wire_report  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
ESPNATD = os.path.join(BUILD, "tools", "espnatd")
ESPNAT = os.path.join(BUILD, "tools", "espnat")

PC4, UE4 = "10.31.0.1", "10.31.0.2"
PC6, UE6 = "fd00:31::1", "fd00:31::2"
UE_PORTS, PC_PORTS = (5062, 5064), (5066, 5068)
KEYS = "ik 0123456789abcdef0123456789abcdef ck fedcba9876543210fedcba9876543210"


def reg_words(ue, pc, mode, reqid, spi_base=1000):
    return (f"ue {ue} pcscf {pc} ue-spi-c {spi_base + 111} ue-spi-s {spi_base + 222} "
            f"pcscf-spi-c {spi_base + 333} pcscf-spi-s {spi_base + 444} "
            f"ue-port-c {UE_PORTS[0]} ue-port-s {UE_PORTS[1]} "
            f"pcscf-port-c {PC_PORTS[0]} pcscf-port-s {PC_PORTS[1]} "
            f"alg hmac-sha-1-96 ealg aes-cbc {KEYS} mod {mode} reqid {reqid}").split()


class Daemon(netns.Daemon):
    """netns.Daemon with this build's binaries and a crypto backend."""

    def __init__(self, lab, ns, name, role, datapath, ports, backend="openssl"):
        super().__init__(lab, ns, name, role, datapath, ports, ESPNATD, ESPNAT,
                         extra=("--crypto-backend", backend))


def topology(lab):
    pc, ue = lab.ns("pc"), lab.ns("ue")
    lab.veth(pc, "vpc", PC4 + "/24", ue, "vue", UE4 + "/24")
    lab.exec(pc, "ip", "addr", "add", PC6 + "/64", "dev", "vpc", "nodad")
    lab.exec(ue, "ip", "addr", "add", UE6 + "/64", "dev", "vue", "nodad")
    return pc, ue


def exchanges(lab, pc, ue, tag, family=4, tcp=True):
    """UE request to the P-CSCF's server port and its answer; a P-CSCF
    request to the UE's server port and its answer; SIP over TCP."""
    pc_a, ue_a = (PC4, UE4) if family == 4 else (PC6, UE6)
    ok = True
    msg = f"REGISTER sip:ims SIP/2.0 MARKER-{tag}-up".encode()
    got = udp_exchange(lab, pc, pc_a, PC_PORTS[1], ue, ue_a, UE_PORTS[0], msg)
    ok &= check(got == b"ANSWER:" + msg, f"{tag}: UDP UE {ue_a}:{UE_PORTS[0]} -> P-CSCF :{PC_PORTS[1]} and back")
    msg = f"MESSAGE sip:ue SIP/2.0 MARKER-{tag}-down".encode()
    got = udp_exchange(lab, ue, ue_a, UE_PORTS[1], pc, pc_a, PC_PORTS[0], msg)
    ok &= check(got == b"ANSWER:" + msg, f"{tag}: UDP P-CSCF :{PC_PORTS[0]} -> UE :{UE_PORTS[1]} and back")
    # bigger than the link once protected: whole into ESP, fragmented after
    big = f"MESSAGE sip:ue SIP/2.0 MARKER-{tag}-big ".encode() + b"z" * 3000
    got = udp_exchange(lab, pc, pc_a, PC_PORTS[1], ue, ue_a, UE_PORTS[0], big)
    ok &= check(got == b"ANSWER:" + big, f"{tag}: UDP of {len(big)} bytes both ways (fragmented after ESP)")
    if tcp:
        big = b"INVITE sip:x SIP/2.0 MARKER-" + tag.encode() + b"-tcp " + b"v=0 " * 1500
        got = tcp_exchange(lab, pc, pc_a, PC_PORTS[1], ue, ue_a, UE_PORTS[0], big)
        ok &= check(got == b"ANSWER:" + big, f"{tag}: TCP, {len(big)} bytes each way (segments grown past the MTU)"
                    + ("" if got == b"ANSWER:" + big else f" got {len(got)} bytes: {got[:40]!r}"))
    return ok


def no_plaintext(packets, tag):
    esp, plain, offenders = wire_report(packets, b"MARKER-")
    check(esp > 0, f"{tag}: ESP on the wire ({esp} packets)")
    check(plain == 0, f"{tag}: no plaintext on the wire {offenders[:3]}")


def scenario(pc_path, ue_path, mode, families, backend="openssl"):
    tag = f"{pc_path}/{ue_path}/{mode}" + ("" if backend == "openssl" else f"/{backend}")
    lab = Lab("d")
    try:
        pc, ue = topology(lab)
        dpc = Daemon(lab, pc, "pcscf", "pcscf", pc_path, PC_PORTS, backend)
        due = Daemon(lab, ue, "ue", "ue", ue_path, UE_PORTS, backend)
        due.args += ["--tun-txqueuelen", "1000"]
        if not (check(dpc.start(), f"{tag}: P-CSCF espnatd up") and
                check(due.start(), f"{tag}: UE espnatd up")):
            return
        for d, path, want in ((dpc, pc_path, 4096), (due, ue_path, 1000)):
            if path == "tun":
                dev = d.args[d.args.index("--tun") + 1]
                got = lab.exec(d.ns, "cat", f"/sys/class/net/{dev}/tx_queue_len").stdout.strip()
                check(got == str(want), f"{tag}: {d.name}'s TUN queue holds {want} packets "
                      f"({'default' if want == 4096 else '--tun-txqueuelen'}): {got}")
        cap = Capture(lab, pc, "vpc", "wire")
        # before any SA: the protected ports are closed, nothing leaks
        got = udp_exchange(lab, pc, PC4, PC_PORTS[1], ue, UE4, UE_PORTS[0], b"MARKER-before", timeout=1)
        check(got is None, f"{tag}: nothing gets through before the SAs exist")
        for fam in families:
            pc_a, ue_a = (PC4, UE4) if fam == 4 else (PC6, UE6)
            dpc.ctl("reg", "add", *reg_words(ue_a, pc_a, mode, fam))
            due.ctl("reg", "add", *reg_words(ue_a, pc_a, mode, fam))
            exchanges(lab, pc, ue, f"{tag}/IPv{fam}", fam, tcp=True)
        # a protected port toward a port no SA covers: dropped, not sent
        got = udp_exchange(lab, pc, PC4, 5099, ue, UE4, UE_PORTS[0], b"MARKER-nosa", timeout=1)
        check(got is None, f"{tag}: no SA for the destination port: nothing sent")
        # protected, to a port nobody listens on: the ICMP error that would
        # quote the decapsulated plaintext must not leave in clear
        got = udp_exchange(lab, pc, PC4, 5099, ue, UE4, UE_PORTS[1], b"x", timeout=0.5)
        lab.exec(ue, "/usr/bin/python3", "-c", f"""
import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(({UE4!r},{UE_PORTS[1]}))
s.sendto(b'MESSAGE MARKER-to-a-closed-port',({PC4!r},{PC_PORTS[0]}))""")
        time.sleep(0.3)
        # plaintext from outside to a protected port: dropped on arrival
        got = udp_exchange(lab, ue, UE4, UE_PORTS[1], pc, PC4, 5070, b"PROBE-inbound-clear", timeout=1)
        check(got is None, f"{tag}: plaintext to a protected port is not delivered")
        packets = cap.stop()
        no_plaintext(packets, tag)
        stats = dpc.ctl("stats")
        check(stats["decap"] > 0 and stats["encap"] > 0, f"{tag}: P-CSCF counted encap {stats['encap']} decap {stats['decap']}")
        if mode == "UDP-enc-tun":
            regs = dpc.ctl("reg", "list")["registrations"]
            check(all(r["port"] == 4500 for r in regs), f"{tag}: P-CSCF learned the UE's port {[r['port'] for r in regs]}")
        kill_and_restart(lab, pc, ue, due, dpc, tag, mode, families[0])
    finally:
        lab.close()


def kill_and_restart(lab, pc, ue, due, dpc, tag, mode, fam):
    """kill -9 the UE's daemon while the UE sends: nothing in clear. Then
    a new daemon with the SAs added again: traffic flows again."""
    cap = Capture(lab, pc, "vpc", "kill")
    receiver = lab.spawn(pc, "/usr/bin/python3", "-c", f"""
import socket,time
s=socket.socket(); s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(({PC4!r},{PC_PORTS[1]})); s.settimeout(0.5); n=0; end=time.time()+6
while time.time()<end:
    try: s.recvfrom(2000); n+=1
    except socket.timeout: pass
open({os.path.join(lab.tmp, 'received')!r},'w').write(str(n))
""")
    sender = lab.spawn(ue, "/usr/bin/python3", "-c", f"""
import socket,time
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(({UE4!r},{UE_PORTS[0]}))
for i in range(80):
    try: s.sendto(b'REGISTER MARKER-kill-%d' % i,({PC4!r},{PC_PORTS[1]}))
    except OSError: pass
    time.sleep(0.05)
""")
    time.sleep(1.5)
    due.stop(signal.SIGKILL)
    sender.wait(timeout=15)
    receiver.wait(timeout=15)
    received = int(open(os.path.join(lab.tmp, "received")).read())
    check(0 < received < 80, f"{tag}: kill -9 mid-flow: {received} of 80 arrived before the kill, none after")
    packets = cap.stop()
    esp, plain, offenders = wire_report(packets, b"MARKER-")
    check(plain == 0, f"{tag}: no plaintext while the UE's daemon is dead {offenders[:3]}")
    # a new daemon, the registration added again
    if not check(due.start(), f"{tag}: UE espnatd restarted"):
        return
    dpc.ctl("reg", "del", "reqid", str(fam))
    dpc.ctl("reg", "add", *reg_words(UE4, PC4, mode, fam, spi_base=2000))
    due.ctl("reg", "add", *reg_words(UE4, PC4, mode, fam, spi_base=2000))
    got = udp_exchange(lab, pc, PC4, PC_PORTS[1], ue, UE4, UE_PORTS[0], b"MARKER-again")
    check(got == b"ANSWER:MARKER-again", f"{tag}: traffic flows again after the SAs are re-added")


def features():
    """The config file and SIGHUP, lifetimes and their events, the
    decrypted capture, fragmentation of what ESP grew, the tables."""
    lab = Lab("f")
    try:
        pc, ue = topology(lab)
        conf = os.path.join(lab.tmp, "pcscf.conf")
        keys = ("auth-trunc 'hmac(sha1)' 0x0102030405060708090a0b0c0d0e0f1011121314 96 "
                "enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff")

        def write_conf(spi_out):
            with open(conf, "w") as f:
                f.write(f"role pcscf\nprotected-ports {PC_PORTS[0]},{PC_PORTS[1]}\n"
                        f"sa src {PC4} dst {UE4} proto esp spi {spi_out} {keys} "
                        f"sel src {PC4} dst {UE4} sport {PC_PORTS[1]} dport {UE_PORTS[0]} dir out\n"
                        f"sa src {UE4} dst {PC4} proto esp spi 0x7002 {keys} "
                        f"sel src {UE4} dst {PC4} sport {UE_PORTS[0]} dport {PC_PORTS[1]} dir in\n")
        write_conf("0x7001")
        plain = os.path.join(lab.tmp, "plain.pcap")
        dpc = Daemon(lab, pc, "fpc", "pcscf", "nfqueue", PC_PORTS)
        dpc.args += ["--config", conf, "--decrypted-pcap", plain]
        due = Daemon(lab, ue, "fue", "ue", "nfqueue", UE_PORTS)
        if not (check(dpc.start(), "features: P-CSCF with a config file up") and
                check(due.start(), "features: UE up")):
            return
        spis = sorted(x["spi"] for x in dpc.ctl("sa", "list")["sas"])
        check(spis == ["0x00007001", "0x00007002"], f"features: the config file's SAs {spis}")
        for line in (f"src {PC4} dst {UE4} proto esp spi 0x7001 {keys} dir in",
                     f"src {UE4} dst {PC4} proto esp spi 0x7002 {keys} dir out"):
            due.ctl("sa", "add", *line.replace("'", "").split())
        events = subprocess.Popen([ESPNAT, "events", "--json", "--socket", dpc.sock],
                                  stdout=subprocess.PIPE, text=True)
        # UDP that ESP grows past the MTU: fragmented on the way, delivered
        big = b"MESSAGE MARKER-big " + b"y" * 1450
        got = udp_exchange(lab, pc, PC4, PC_PORTS[1], ue, UE4, UE_PORTS[0], big)
        check(got == b"ANSWER:" + big, "features: a UDP message grown past the MTU gets through both ways")
        listed = dpc.ctl("sa", "list")
        check("0x00112233" not in json.dumps(listed), "features: sa list shows no keys")
        check("0x00112233445566778899aabbccddeeff" in json.dumps(dpc.ctl("sa", "list", "keys")),
              "features: sa list keys shows them, when asked")
        # SIGHUP: one SA changed in the file, the other kept with its counters
        before = {x["spi"]: x["packets"] for x in listed["sas"]}
        write_conf("0x7003")
        os.killpg(dpc.p.pid, signal.SIGHUP)
        time.sleep(0.5)
        after = {x["spi"]: x["packets"] for x in dpc.ctl("sa", "list")["sas"]}
        check(sorted(after) == ["0x00007002", "0x00007003"] and after["0x00007002"] == before["0x00007002"] > 0,
              f"features: SIGHUP reloaded the SAs, the unchanged one kept its counters ({before} -> {after})")
        # a registration with a lifetime goes by itself, and says so
        dpc.ctl("reg", "add", *reg_words(UE6, PC6, "UDP-enc-tun", 9), "lifetime", "1")
        table = dpc.ctl("table", "reqid", "9")["text"]
        shown = "undef" in table and "SA4" in table
        check(shown, "features: the table shows the unlearned port" + ("" if shown else ":\n" + table))
        regs = dpc.ctl("reg", "list")["registrations"]
        check([r["reqid"] for r in regs] == [9] and regs[0]["port"] == 0, f"features: reg list {regs}")
        time.sleep(2)
        left = dpc.ctl("reg", "list")["registrations"]
        check(left == [], f"features: the registration expired {left}")
        events.terminate()
        seen = [json.loads(l) for l in events.communicate(timeout=5)[0].splitlines()]
        expired = [e for e in seen if e.get("event") == "expired"]
        check(len(expired) == 4 and all(e.get("reqid") == 9 for e in expired),
              f"features: four 'expired' events on the stream {[e.get('event') for e in seen]}")
        dpc.stop()
        check(dpc.p.returncode == 0, "features: clean stop")
        from scapy.all import rdpcap as _rd
        caps = [bytes(p) for p in _rd(plain)]
        check(any(b"MARKER-big" in c for c in caps), f"features: --decrypted-pcap holds the plaintext ({len(caps)} packets)")
        check(oct(os.stat(plain).st_mode & 0o777) == "0o600", "features: the decrypted capture is 0600")
    finally:
        lab.close()


def control_group(lab, ns):
    """--control-group lets a SIP server's group in, judged by the peer's
    credentials in the kernel, and nobody else."""
    g = Daemon(lab, ns, "grp", "pcscf", "nfqueue", PC_PORTS)
    g.args += ["--control-group", "nogroup"]
    g.args[g.args.index("--tun") + 1] = "espgrp"
    if not check(g.start(), "control-group: espnatd up with --control-group nogroup"):
        return
    st = os.stat(g.sock)
    check(oct(st.st_mode & 0o777) == "0o660" and st.st_gid == 65534,
          f"control-group: socket 0660, group nogroup ({oct(st.st_mode & 0o777)}, gid {st.st_gid})")

    def ping_as(*ids):
        r = subprocess.run(["setpriv", "--reuid=65533", *ids, ESPNAT, "ping", "--socket", g.sock],
                           capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

    rc, out = ping_as("--regid=65534", "--clear-groups")
    check(rc == 0, f"control-group: a member by its primary group is answered ({out.strip()})")
    rc, out = ping_as("--regid=100", "--groups=65534")
    check(rc == 0, f"control-group: a member by a supplementary group is answered ({out.strip()})")
    os.chmod(g.sock, 0o666)     # past the file mode, the daemon still judges
    rc, out = ping_as("--regid=100", "--clear-groups")
    check(rc == 1 and "root and its group" in out,
          f"control-group: a user outside the group is refused ({out.strip()})")
    g.stop()
    check(g.p.returncode == 0, "control-group: clean stop")
    bad = Daemon(lab, ns, "bad", "pcscf", "nfqueue", PC_PORTS)
    bad.args += ["--control-group", "no-such-group-x"]
    bad.p = lab.spawn(ns, *bad.args, log=bad.log)
    try:
        rc = bad.p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        rc = None
        bad.stop()
    err = open(bad.log).read()
    check(rc not in (0, None) and "no group 'no-such-group-x'" in err,
          f"control-group: an unknown group is an error at start (rc {rc}: {err.strip()[-120:]})")


def control_socket():
    lab = Lab("c")
    try:
        pc, ue = topology(lab)
        d = Daemon(lab, pc, "ctl", "pcscf", "nfqueue", PC_PORTS)
        if not check(d.start(), "control: espnatd up"):
            return
        check(oct(os.stat(d.sock).st_mode & 0o777) == "0o600", "control: socket mode 0600")
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        r = subprocess.run(nobody + [ESPNAT, "ping", "--socket", d.sock], capture_output=True, text=True)
        check(r.returncode != 0 and "ermission denied" in r.stderr, f"control: a non-root user cannot connect ({r.stderr.strip()})")
        os.chmod(d.sock, 0o666)     # as if an admin opened it up: the daemon still checks
        os.chmod(lab.tmp, 0o755)
        r = subprocess.run(nobody + [ESPNAT, "ping", "--socket", d.sock], capture_output=True, text=True)
        check(r.returncode == 1 and "for root" in r.stderr, f"control: a non-root peer is refused by SO_PEERCRED ({r.stderr.strip()})")
        os.chmod(d.sock, 0o600)
        control_group(lab, ue)   # a namespace of its own: its own rules and queue

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock)
        f = s.makefile("rwb")
        garbage = [b"", b"bogus", b"sa", b"sa add", b"sa add src 1.2.3.4", b"sa del spi x dst y",
                   b"sa del spi 0x1234 dst 10.9.9.9", b"reg add ue", b"reg del reqid 99",
                   b"reg add ue 1.2.3.4 pcscf 1.2.3.5 ik zz", b"table reqid x", b"\xff\xfe\x00",
                   b"sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x500 enc cbc(aes) 0x00",
                   b"ping ping", "é".encode() * 100]
        answers = []
        for g in garbage:
            f.write(g + b"\n")
            f.flush()
            answers.append(json.loads(f.readline()))
        check(all(a.get("ok") is False and a.get("error") for a in answers),
              f"control: {len(garbage)} malformed requests, each an error line")
        check("no SA with spi 0x00001234" in answers[6]["error"], "control: deleting an unknown SA says so")
        f.write(b"ping\n")
        f.flush()
        check(json.loads(f.readline()).get("ok") is True, "control: still answering after garbage")
        f.write(b"x" * 70000 + b"\n")
        f.flush()
        line = f.readline()
        check(b"too long" in line, "control: an oversized line is refused")
        s.close()
        many = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(70)]
        for m in many:
            m.connect(d.sock)
        refused = 0
        for m in many:
            m.settimeout(1)
            try:
                refused += b"too many" in m.recv(200)
            except socket.timeout:
                pass
        check(refused == 70 - 64, f"control: 70 connections at once, the {refused} beyond 64 refused")
        for m in many:
            m.close()
        answered = False
        for _ in range(50):     # the daemon notices the hang-ups as it polls
            if d.ctl("ping", check_ok=False).get("ok"):
                answered = True
                break
            time.sleep(0.05)
        check(answered, "control: answering again once they are gone")
        check(d.p.poll() is None, "control: the daemon kept running")
        d.stop()
        check(d.p.returncode == 0, "control: clean stop on SIGTERM")
        rules = lab.exec(pc, "iptables-save", "-t", "raw").stdout
        check("ESPNATD" not in rules, "control: a clean stop removes the rules")
    finally:
        lab.close()


def refused_settings():
    """Settings out of range stop espnatd before it touches anything."""
    for opt, val in (("--tun-txqueuelen", "0"), ("--tun-txqueuelen", "1000001"),
                     ("--tun-mtu", "575")):
        r = subprocess.run([ESPNATD, opt, val], capture_output=True, text=True, timeout=10)
        check(r.returncode == 2 and f"'{val}' is not" in r.stderr,
              f"{opt} {val} refused: rc {r.returncode}, {r.stderr.strip()}")


def main():
    netns.need_root()
    refused_settings()
    scenario("nfqueue", "nfqueue", "trans", [4, 6])
    scenario("nfqueue", "tun", "UDP-enc-tun", [4])
    scenario("tun", "nfqueue", "UDP-enc-tun", [4])
    # the multi-buffer backend on both sides, when built in (espnatd
    # refuses the option otherwise, before doing anything)
    built = subprocess.run([ESPNATD, "--crypto-backend", "ipsec-mb", "--help"],
                           capture_output=True).returncode == 0
    if built:
        scenario("nfqueue", "tun", "UDP-enc-tun", [4, 6], backend="ipsec-mb")
    else:
        print("daemon_test: ipsec-mb not built: its scenario skipped")
    features()
    control_socket()
    print(f"daemon_test: {netns.passed} passed, {netns.failed} failed")
    return 1 if netns.failed else 0


if __name__ == "__main__":
    netns.run_main(main)
