"""The lab's plumbing: network namespaces and their links, a real Linux NAT,
espnatd daemons and the SIP simulators inside them, captures. Everything
made here is recorded and removed by Net.close(), which the caller runs in
a `finally`, so a failure or Ctrl-C leaves nothing behind."""
import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time

PREFIX = "espnat-lab-"


class LabError(Exception):
    """Something the lab could not set up; the message says what."""


def run(*cmd, check=True, timeout=30, input=None):
    try:
        r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                           input=input)
    except FileNotFoundError:
        raise LabError(f"{cmd[0]} is not installed")
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(cmd)}: no answer in {timeout} s")
    if check and r.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def lab_alive(pid):
    """Whether pid is a running espnat-lab (not a zombie, not a reused pid)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, IndexError):
        return False
    return state != "Z" and b"espnat-lab" in cmdline


def stale_namespaces():
    """Namespaces an earlier lab left behind (it was killed with SIGKILL)."""
    r = run("ip", "netns", "list", check=False)
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    stale = []
    for name in names:
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and lab_alive(int(pid)):
            continue  # a lab that is still running
        stale.append(name)
    return stale


def remove_namespaces(names):
    for name in names:
        # processes left inside would keep the namespace's devices alive
        pids = run("ip", "netns", "pids", name, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run("ip", "netns", "del", name, check=False)


class Net:
    """The namespaces of one lab run, named espnat-lab-PID-ROLE."""

    def __init__(self, workdir):
        self.tag = f"{PREFIX}{os.getpid()}"
        self.workdir = workdir
        self.namespaces = []
        self.procs = []

    def ns(self, role):
        name = f"{self.tag}-{role}"
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def ip(self, ns, *args):
        return run("ip", "-n", ns, *args)

    def exec(self, ns, *cmd, check=True, timeout=30):
        return run("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout)

    def sysctl(self, ns, key, value):
        """Writes /proc/sys from inside the namespace (no procps needed)."""
        path = "/proc/sys/" + key.replace(".", "/")
        self.exec(ns, "sh", "-c", f"echo {int(value)} > {path}")

    def veth(self, ns_a, dev_a, ns_b, dev_b):
        run("ip", "link", "add", dev_a, "netns", ns_a, "type", "veth", "peer", "name", dev_b,
            "netns", ns_b)
        self.ip(ns_a, "link", "set", dev_a, "up")
        self.ip(ns_b, "link", "set", dev_b, "up")

    def spawn(self, ns, argv, log, **kw):
        out = open(log, "ab")
        p = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=kw.pop("stdout", out),
                             stderr=kw.pop("stderr", out), start_new_session=True, **kw)
        out.close()
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is not None:
            return
        try:
            os.killpg(p.pid, sig)
            p.wait(timeout=timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def close(self):
        for p in reversed(self.procs):
            self.stop(p)
        remove_namespaces(reversed(self.namespaces))
        self.namespaces = []


def nat_setup(net, ns, wan_dev, udp_timeout):
    """A masquerading router: nftables NAT with random source ports (so a
    rebinding shows as a new port), UDP conntrack entries that die after
    udp_timeout seconds of silence."""
    net.sysctl(ns, "net.ipv4.ip_forward", 1)
    ruleset = f"""table ip lab_nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "{wan_dev}" masquerade random
    }}
}}
"""
    r = run("ip", "netns", "exec", ns, "nft", "-f", "-", input=ruleset, check=False)
    if r.returncode != 0:
        # the kernel may lack nft NAT: the same rule through iptables
        net.exec(ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", wan_dev,
                 "-j", "MASQUERADE", "--random")
    # the conntrack sysctls appear once the NAT made conntrack load
    for key in ("net.netfilter.nf_conntrack_udp_timeout",
                "net.netfilter.nf_conntrack_udp_timeout_stream"):
        net.sysctl(ns, key, udp_timeout)


def nat_mapping(net, ns, private_addr, private_port):
    """The public port the NAT maps (private_addr, private_port) to, from
    its conntrack table; None when it holds no mapping."""
    r = net.exec(ns, "conntrack", "-L", "-p", "udp", "--orig-src", private_addr,
                 "--orig-port-src", str(private_port), check=False)
    for line in r.stdout.splitlines():
        fields = line.split()
        # the reply tuple is the second src=/dst=/sport=/dport= group
        dports = [f.split("=", 1)[1] for f in fields if f.startswith("dport=")]
        if len(dports) >= 2:
            return int(dports[1])
    return None


def nat_flush(net, ns):
    net.exec(ns, "conntrack", "-F", check=False)


class Espnatd:
    """One espnatd with a config file of its own (so that the lab can
    change it and send SIGHUP like an operator would)."""

    def __init__(self, net, ns, name, bindir, settings):
        self.net, self.ns, self.name, self.bindir = net, ns, name, bindir
        self.sock = os.path.join(net.workdir, name + ".sock")
        self.conf = os.path.join(net.workdir, name + ".conf")
        self.log = os.path.join(net.workdir, name + ".log")
        self.settings = dict(settings, control=self.sock)
        self.p = None

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write(f"# espnatd of the lab's {self.name}\n")
            for key, value in self.settings.items():
                f.write(f"{key} {value}\n")

    def start(self):
        self.write_config()
        self.p = self.net.spawn(self.ns, [os.path.join(self.bindir, "espnatd"), "--config",
                                          self.conf], self.log)
        for _ in range(100):
            if self.p.poll() is not None:
                break
            if self.ctl("ping", check=False).get("ok"):
                return
            time.sleep(0.05)
        raise LabError(f"espnatd of {self.name} did not start: {self.tail_log()}")

    def tail_log(self, n=5):
        try:
            with open(self.log, errors="replace") as f:
                return " / ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def set(self, key, value):
        """Change one setting the way an operator does: edit, SIGHUP."""
        self.settings[key] = value
        self.write_config()
        self.ctl("reload")

    def ctl(self, *words, check=True):
        r = run(os.path.join(self.bindir, "espnat"), "--json", "--socket", self.sock, *words,
                check=False)
        try:
            answer = json.loads(r.stdout.splitlines()[0]) if r.stdout.strip() else {}
        except ValueError:
            answer = {}
        if check and not answer.get("ok"):
            raise LabError(f"espnat {' '.join(words)} on {self.name}: "
                           f"{answer.get('error') or r.stderr.strip()}")
        return answer

    def table(self, reqid):
        for t in self.ctl("table").get("tables", []):
            if t.get("reqid") == reqid:
                return t
        return None


class EventStream:
    """`espnat events` kept running: the daemon's learned/moved/... lines."""

    def __init__(self, daemon, log):
        self.lines = queue.Queue()
        self.p = daemon.net.spawn(daemon.ns, [os.path.join(daemon.bindir, "espnat"), "--json",
                                              "--socket", daemon.sock, "events"],
                                  log, stdout=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            if "event" in ev:
                self.lines.put(ev)

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.lines.get_nowait())
            except queue.Empty:
                return out


class Sim:
    """An espnat-lab-sim (UE or P-CSCF): commands in on stdin, JSON events
    out on stdout. Every event goes to `sink` as (time, who, event)."""

    def __init__(self, net, ns, who, argv, log, sink):
        self.who, self.sink = who, sink
        self.done = queue.Queue()
        self.p = net.spawn(ns, argv, log, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(10):
            raise LabError(f"the {who} simulator did not start (see {log})")

    def _read(self):
        for raw in self.p.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            if ev.get("event") == "ready":
                self.ready.set()
            if ev.get("event") == "done":
                self.done.put(ev)
            else:
                self.sink(time.monotonic(), self.who, ev)
        self.done.put({"event": "done", "ok": False, "error": f"the {self.who} simulator exited"})

    def command(self, line, timeout=20):
        """Runs one command; returns (ok, error)."""
        if self.p.poll() is not None:
            return False, f"the {self.who} simulator is gone"
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()
        try:
            ev = self.done.get(timeout=timeout)
        except queue.Empty:
            return False, f"{self.who}: '{line}' got no answer in {timeout} s"
        return bool(ev.get("ok")), ev.get("error", "")

    def quit(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write(b"quit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=3)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                pass


class Capture:
    """tcpdump on one device, into a pcap file."""

    def __init__(self, net, ns, dev, path):
        self.net, self.path = net, path
        self.p = net.spawn(ns, ["tcpdump", "-Z", "root", "-U", "-n", "-s", "0", "-i", dev,
                                "-w", path],
                           os.path.join(net.workdir, f"tcpdump-{dev}.log"))
        for _ in range(100):
            if os.path.exists(path) and os.path.getsize(path) > 0:
                break
            time.sleep(0.05)
        else:
            raise LabError(f"tcpdump on {dev} did not start")

    def stop(self):
        time.sleep(0.2)
        Net.stop(self.p, signal.SIGINT)


class Kamailio:
    """Debian's Kamailio, unchanged, with the shipped P-CSCF configuration
    (contrib/kamailio): in the foreground (-DD), logging to stderr (-E),
    the settings given as defines (-A NAME=VALUE) instead of editing the
    file. Its script logs one `espnat-pcscf: {json}` line per step; each
    goes to `sink` as (time, "P-CSCF", event), as a simulator's would."""

    MARK = "espnat-pcscf: "

    def __init__(self, net, ns, cfg, defines, log, sink, rundir):
        self.net, self.log, self.sink = net, log, sink
        self.ready = threading.Event()
        self.lines = []
        os.makedirs(rundir, mode=0o700, exist_ok=True)
        argv = [kamailio_binary(), "-f", cfg, "-DD", "-E", "-m", "64", "-M", "16", "-Y", rundir]
        for name, value in defines.items():
            argv += ["-A", name if value is None else f"{name}={value}"]
        self.p = net.spawn(ns, argv, log, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(15) or self.p.poll() is not None:
            raise LabError(f"Kamailio did not start: {self.tail()} (see {log})")
        time.sleep(0.5)     # every worker past its child_init

    def _read(self):
        with open(self.log, "a", errors="replace") as out:
            for raw in self.p.stderr:
                line = raw.decode(errors="replace")
                out.write(line)
                out.flush()
                self.lines.append(line)
                if self.MARK not in line:
                    continue
                try:
                    ev = json.loads(line.split(self.MARK, 1)[1])
                except ValueError:
                    continue
                if ev.get("event") == "ready":
                    self.ready.set()
                else:
                    self.sink(time.monotonic(), "P-CSCF", ev)

    def tail(self, n=4):
        return " / ".join(line.strip() for line in self.lines[-n:]) or "(no output)"

    def errors(self):
        """Its ERROR and CRITICAL lines (a traceback of the script, a socket
        that failed...)."""
        return [line.strip() for line in self.lines if " ERROR: " in line or " CRITICAL: " in line]

    def stop(self):
        Net.stop(self.p)


def kamailio_binary():
    for path in (shutil.which("kamailio"), "/usr/sbin/kamailio"):
        if path and os.access(path, os.X_OK):
            return path
    return None


def kamailio_module(name):
    """Where Debian put one of Kamailio's modules, or None."""
    for path in glob.glob(f"/usr/lib/*/kamailio/modules/{name}.so") + \
            glob.glob(f"/usr/lib/kamailio/modules/{name}.so"):
        return path
    return None
