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


# ---- shared by the hardening tests (flood, control abuse, soak, valgrind) ----

import json  # noqa: E402


def readline(s):
    """Bytes from a stream socket up to a newline (included) or its end."""
    buf = b""
    while not buf.endswith(b"\n"):
        k = s.recv(65536)
        if not k:
            break
        buf += k
    return buf


def ctl_raw(sock_path, line, timeout=5.0):
    """One request straight on the control socket (no client process):
    returns (answer dict or None, seconds it took)."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(line.encode() + b"\n")
        buf = readline(s)
        return (json.loads(buf) if buf.strip() else None), time.monotonic() - t0
    except (OSError, ValueError):
        return None, time.monotonic() - t0
    finally:
        s.close()


class Daemon:
    """An espnatd in a namespace, its control socket and log in lab.tmp.
    `prefix` runs it under another program (valgrind)."""

    def __init__(self, lab, ns, name, role, datapath, ports, espnatd, espnat, prefix=(),
                 extra=()):
        self.lab, self.ns, self.name = lab, ns, name
        self.espnat = espnat
        self.sock = os.path.join(lab.tmp, name + ".sock")
        self.log = os.path.join(lab.tmp, name + ".log")
        self.args = [*prefix, espnatd, "--role", role, "--datapath", datapath,
                     "--control", self.sock, "--protected-ports", ",".join(map(str, ports)),
                     "--tun", "esp" + name[:8], *extra]
        self.p = None

    def start(self, wait=5.0):
        self.p = self.lab.spawn(self.ns, *self.args, log=self.log)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if self.p.poll() is not None:
                break
            a, _ = ctl_raw(self.sock, "ping", timeout=1)
            if a and a.get("ok"):
                return True
            time.sleep(0.05)
        print(open(self.log, errors="replace").read())
        return False

    def ctl(self, *words, check_ok=True, timeout=20):
        r = subprocess.run([self.espnat, *words, "--json", "--socket", self.sock],
                           capture_output=True, text=True, timeout=timeout)
        try:
            answer = json.loads(r.stdout.splitlines()[0]) if r.stdout else {}
        except ValueError:
            answer = {}
        if check_ok and not answer.get("ok"):
            raise RuntimeError(f"{self.name}: {' '.join(words)}: {r.stdout}{r.stderr}")
        return answer

    def pid(self):
        """The espnatd process itself (ip netns exec execs it, so it is
        the spawned pid; under a prefix such as valgrind, still that pid)."""
        return self.p.pid

    def rss_kb(self):
        with open(f"/proc/{self.pid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def fds(self):
        return sorted(os.listdir(f"/proc/{self.pid()}/fd"), key=int)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        return self.p.returncode


def reg_words(ue, pc, ue_ports, pc_ports, spis, mode="UDP-enc-tun", reqid=None,
              ik="0123456789abcdef0123456789abcdef", ck="fedcba9876543210fedcba9876543210"):
    """`reg add` words: spis = (ue-spi-c, ue-spi-s, pcscf-spi-c, pcscf-spi-s)."""
    words = (f"ue {ue} pcscf {pc} ue-spi-c {spis[0]} ue-spi-s {spis[1]} "
             f"pcscf-spi-c {spis[2]} pcscf-spi-s {spis[3]} "
             f"ue-port-c {ue_ports[0]} ue-port-s {ue_ports[1]} "
             f"pcscf-port-c {pc_ports[0]} pcscf-port-s {pc_ports[1]} "
             f"alg hmac-sha-1-96 ealg aes-cbc ik {ik} ck {ck} mod {mode}").split()
    if reqid is not None:
        words += ["reqid", str(reqid)]
    return words


def leaks(packets, ports, marker=None):
    """Packets on the wire that are plain UDP or TCP with a protected port
    as source or destination (ESP-in-UDP uses 4500 both ways), or that
    carry @marker outside ESP. Returns (esp, offenders)."""
    esp, offenders = 0, []
    for p in packets:
        ip = ip_layer(p)
        if ip is None:
            continue
        proto = ip.proto if IP in p else ip.nh
        if proto == 50 or (UDP in p and 4500 in (p[UDP].sport, p[UDP].dport)):
            esp += 1
            continue
        l4 = p[UDP] if UDP in p else p[TCP] if TCP in p else None
        if l4 is not None and (l4.sport in ports or l4.dport in ports):
            offenders.append(p.summary())
        elif marker and marker in bytes(ip):
            offenders.append(p.summary())
    return esp, offenders


def run_main(main):
    """Runs a test's main() and exits: 1 when it returned non-zero, raised
    (the traceback printed) or any check failed."""
    try:
        rc = main()
    except Exception:
        import traceback
        traceback.print_exc()
        rc = 1
    sys.exit(1 if rc or failed else 0)


def exit_on_sigterm():
    """meson's timeout sends SIGTERM: turn it into SystemExit so that the
    tests' `finally` blocks remove their namespaces and processes."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
