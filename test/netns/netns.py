"""Shared pieces of the network-namespace tests: namespaces joined by veth,
daemons started inside them, captures, UDP/TCP endpoints. Everything is
made by the test and torn down by it, also when it fails."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from scapy.all import IP, IPv6, UDP, TCP, rdpcap

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok    {what}")
    else:
        failed += 1
        print(f"FAIL  {what}")
    sys.stdout.flush()
    return cond


def run(*cmd, check_rc=True, timeout=30, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.returncode}: {r.stderr.strip()}")
    return r


class Lab:
    """Namespaces named with a per-run suffix, removed on exit."""

    def __init__(self, prefix):
        self.suffix = f"{prefix}{os.getpid() % 100000}"
        self.namespaces = []
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix=f"espnat-{prefix}-")

    def ns(self, name):
        full = f"{name}-{self.suffix}"
        run("ip", "netns", "add", full)
        self.namespaces.append(full)
        run("ip", "-n", full, "link", "set", "lo", "up")
        return full

    def veth(self, ns_a, dev_a, addr_a, ns_b, dev_b, addr_b):
        run("ip", "link", "add", dev_a, "netns", ns_a, "type", "veth", "peer", "name", dev_b,
            "netns", ns_b)
        for ns, dev, addr in ((ns_a, dev_a, addr_a), (ns_b, dev_b, addr_b)):
            if addr:
                run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")

    def spawn(self, ns, *cmd, log=None):
        out = open(log, "w") if log else subprocess.DEVNULL
        p = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def exec(self, ns, *cmd, **kw):
        return run("ip", "netns", "exec", ns, *cmd, **kw)

    def kill(self, p, sig=signal.SIGTERM):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                self.kill(p)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["rm", "-rf", self.tmp])


class Capture:
    """tcpdump on a device inside a namespace, into a pcap."""

    def __init__(self, lab, ns, dev, name):
        self.path = os.path.join(lab.tmp, name + ".pcap")
        self.lab = lab
        self.p = lab.spawn(ns, "tcpdump", "-U", "-n", "-s", "0", "-i", dev, "-w", self.path,
                           log=self.path + ".log")
        for _ in range(50):
            if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
                break
            time.sleep(0.1)
        time.sleep(0.3)

    def stop(self):
        time.sleep(0.3)
        self.lab.kill(self.p, signal.SIGINT)
        return list(rdpcap(self.path)) if os.path.getsize(self.path) > 24 else []


def ip_layer(p):
    return p[IP] if IP in p else p[IPv6] if IPv6 in p else None


def wire_report(packets, marker):
    """What crossed the wire: (ESP-ish count, plaintext count on protected
    ports or carrying the marker, offenders)."""
    esp = plain = 0
    offenders = []
    for p in packets:
        ip = ip_layer(p)
        if ip is None:
            continue
        raw = bytes(ip)
        proto = ip.proto if IP in p else ip.nh
        is_esp = proto == 50 or (UDP in p and 4500 in (p[UDP].sport, p[UDP].dport))
        if is_esp:
            esp += 1
        if marker in raw and not is_esp:
            plain += 1
            offenders.append(p.summary())
        elif marker in raw:
            plain += 1
            offenders.append("marker inside ESP: " + p.summary())
    return esp, plain, offenders


def udp_exchange(lab, ns_srv, srv_addr, srv_port, ns_cli, cli_addr, cli_port, payload,
                 timeout=3):
    """A request from the client port and its answer back; returns what the
    client got (None when nothing came)."""
    family = "6" if ":" in srv_addr else "4"
    server = lab.spawn(ns_srv, "/usr/bin/python3", "-c", f"""
import socket,sys
s=socket.socket(socket.AF_INET{'6' if family == '6' else ''}, socket.SOCK_DGRAM)
s.bind(({srv_addr!r},{srv_port})); s.settimeout({timeout + 1})
d,a=s.recvfrom(65535); s.sendto(b'ANSWER:'+d,a)
""")
    time.sleep(0.3)
    r = lab.exec(ns_cli, "/usr/bin/python3", "-c", f"""
import socket,sys
s=socket.socket(socket.AF_INET{'6' if family == '6' else ''}, socket.SOCK_DGRAM)
s.bind(({cli_addr!r},{cli_port})); s.settimeout({timeout})
s.sendto({payload!r},({srv_addr!r},{srv_port}))
try:
    d,a=s.recvfrom(65535); sys.stdout.write(d.decode('latin-1'))
except socket.timeout:
    sys.stdout.write('<timeout>')
""", check_rc=False, timeout=timeout + 5)
    server.wait(timeout=timeout + 5)
    got = r.stdout
    return None if got == "<timeout>" or not got else got.encode("latin-1")


def tcp_exchange(lab, ns_srv, srv_addr, srv_port, ns_cli, cli_addr, cli_port, payload,
                 timeout=4):
    fam = "socket.AF_INET6" if ":" in srv_addr else "socket.AF_INET"
    server = lab.spawn(ns_srv, "/usr/bin/python3", "-c", f"""
import socket
s=socket.socket({fam}); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(({srv_addr!r},{srv_port})); s.listen(1); s.settimeout({timeout + 1})
c,a=s.accept(); c.settimeout({timeout}); d=b''
while len(d) < {len(payload)}:
    k=c.recv(65536)
    if not k: break
    d+=k
c.sendall(b'ANSWER:'+d); c.close()
""")
    time.sleep(0.3)
    r = lab.exec(ns_cli, "/usr/bin/python3", "-c", f"""
import socket,sys
s=socket.socket({fam}); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(({cli_addr!r},{cli_port})); s.settimeout({timeout})
try:
    s.connect(({srv_addr!r},{srv_port})); s.sendall({payload!r}); d=b''
    while True:
        k=s.recv(65536)
        if not k: break
        d+=k
    sys.stdout.write(d.decode('latin-1'))
except Exception as e:
    sys.stdout.write('<'+type(e).__name__+'>')
""", check_rc=False, timeout=timeout + 5)
    server.wait(timeout=timeout + 5)
    return r.stdout.encode("latin-1")


def need_root():
    if os.geteuid() != 0:
        print("this test needs root (network namespaces, netfilter)", file=sys.stderr)
        sys.exit(1)
