#!/usr/bin/python3
"""Control-socket abuse, beyond what daemon_test.py's control part does
(non-root refused, a list of garbage, one oversized line, 70 connections):
  - line lengths at the limit: 65534 bytes and a newline is a request (an
    error answer for an unknown one), 65535 without a newline is refused
    as too long, as is 200 KiB sent in pieces; 128+ words;
  - partial lines: no newline then close; a half line left open while
    others are served; a request dribbled a byte at a time (answered once
    whole, others served meanwhile);
  - 1000 requests pipelined in one write, all answered in order; 64 KiB of
    pipelined `sa list keys` answered without the daemon growing by 8 MB;
  - a client that sends and never reads (the daemon's answers pile up in
    its socket), and one that reads 64 KiB every 3 s: others are still
    served within a second; the one that never reads is dropped after the
    daemon's 10 s stall limit;
  - connection churn, straight after a client hung up: 64 held open (each
    accepted, none refused), the 65th refused; one of them hangs up as
    another connects, both seen by the daemon in one poll() (it is
    stopped meanwhile): the newcomer is served; then 500 open/close
    cycles, half of them as a non-root peer: no fd left behind;
  - requests naming what does not exist, bad keys, missing words, a
    registration whose third SA clashes (all four or none): each an error
    answer, and `sa list` / `reg list` the same before and after;
  - the daemon never crashes, keeps its fds and memory (a second round of
    churn and bad requests adds less than 512 kB), stops cleanly.
Usage: control_abuse_test.py BUILD_DIR"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Daemon, Lab, check, ctl_raw, readline, reg_words  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
ESPNATD = os.path.join(BUILD, "tools", "espnatd")
ESPNAT = os.path.join(BUILD, "tools", "espnat")
PC4, UE4 = "10.42.0.1", "10.42.0.2"
UE_PORTS, PC_PORTS = (5062, 5064), (5066, 5068)
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def conn(path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)          # blocking, as espnat does: waits for the backlog
    s.settimeout(timeout)
    return s


def answer_of(s, line):
    s.sendall(line + b"\n")
    buf = readline(s)
    try:
        return json.loads(buf)
    except ValueError:
        return {"raw": buf[:200]}


def snapshot(d):
    """What abuse must not change: the SAs (identity, selectors, keys
    left out) and the registrations (what they are, not when heard)."""
    sas = [s["sa"] for s in d.ctl("sa", "list")["sas"]]
    regs = [{k: v for k, v in r.items() if k in ("reqid", "peer", "port", "sas", "ue", "pcscf")}
            for r in d.ctl("reg", "list")["registrations"]]
    return sas, regs


def sanitized(d):
    with open(f"/proc/{d.pid()}/maps") as f:
        return "libasan" in f.read()


def state(d):
    return d.rss_kb(), len(d.fds())


# poll() and ppoll() by machine: the daemon's main loop waits in one of them
POLL_SYSCALLS = {"x86_64": {"7", "271"}, "aarch64": {"73"}, "riscv64": {"73"}}.get(
    os.uname().machine, set())


def stopped(pid, seconds=5):
    """True once the process is stopped by a signal (state T), within
    @seconds: a signal is delivered on the process's own time."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return True
        time.sleep(0.001)
    return False


def waits_in_poll(pid, seconds=5):
    """True once the process's main thread is blocked in poll() (as
    /proc/PID/syscall tells), within @seconds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with open(f"/proc/{pid}/syscall") as f:
            if f.read().split(" ")[0] in POLL_SYSCALLS:
                return True
        time.sleep(0.01)
    return False


def main():
    netns.need_root()
    netns.exit_on_sigterm()
    lab = Lab("ca")
    t0 = time.monotonic()
    try:
        pc, ue = lab.ns("pc"), lab.ns("ue")
        lab.veth(pc, "vpc", PC4 + "/24", ue, "vue", UE4 + "/24")
        d = Daemon(lab, pc, "abuse", "pcscf", "nfqueue", PC_PORTS, ESPNATD, ESPNAT)
        if not check(d.start(), "espnatd up"):
            return
        d.ctl("reg", "add", *reg_words(UE4, PC4, UE_PORTS, PC_PORTS, (1111, 2222, 3333, 4444), reqid=7))
        d.ctl("sa", "add", "src", PC4, "dst", UE4, "proto", "esp", "spi", "0x9001", "auth-trunc",
              "hmac(sha1)", "0x0102030405060708090a0b0c0d0e0f1011121314", "96", "enc", "cbc(aes)",
              "0x00112233445566778899aabbccddeeff", "sel", "src", PC4, "dst", UE4, "sport", "5066",
              "dport", "5099", "dir", "out")
        before = snapshot(d)
        check(len(before[0]) == 5 and len(before[1]) == 1, f"start: 5 SAs, 1 registration ({len(before[0])}, {len(before[1])})")
        rss0, fds0 = state(d)
        marks = [("start", rss0)]      # RSS after each part

        # ---- requests about what does not exist, bad keys, missing words
        k16, k20 = "0x" + "11" * 16, "0x" + "22" * 20
        base = f"sa add src {PC4} dst {UE4} proto esp spi 0x9100"
        reg = " ".join(reg_words(UE4, PC4, (6062, 6064), PC_PORTS, (5111, 5222, 5333, 5444)))
        bad = {
            "sa del spi 0x1234 dst 1.2.3.4": "no SA",
            "sa del spi 0x1234 dst fd00::1": "no SA",
            "sa del spi 0x1111 dst 10.99.0.1": "no SA",       # a real SPI, a wrong dst
            "sa del spi 0x10000000000 dst 1.2.3.4": "",
            "sa del dst 1.2.3.4": "",
            "reg del reqid 999": "no registration",
            "reg del reqid 0": "",
            "reg del reqid 99999999999": "",
            "reg del reqid -1": "",
            "reg del": "",
            "table reqid 999": "",
            "table reqid": "",
            "table reqid 7 extra": "",
            f"{base} auth-trunc hmac(sha1) 0x0102 96": "",              # short key
            f"{base} auth-trunc hmac(sha1) 0x01020 96": "",             # odd hex
            f"{base} auth-trunc hmac(sha1) 0xzz{'00' * 19} 96": "",     # not hex
            f"{base} enc cbc(aes) 0x{'00' * 17}": "",                   # 17 bytes
            f"{base} enc cbc(des3_ede) 0x{'01' * 24} auth-trunc hmac(sha1) {k20} 96": "",  # K1 = K2
            f"{base} enc cbc(aes) {k16}": "",                           # no integrity... allowed? see below
            f"{base} auth-trunc hmac(md5) {k20} 96": "",                # md5 takes 16
            f"{base} enc ecb(cipher_null) \"\"": "",                    # neither
            f"sa add src {PC4} dst {UE4} proto esp spi 1111 enc cbc(aes) {k16} auth-trunc hmac(sha1) {k20} 96": "exists",  # reqid 7 has it
            f"sa add src {PC4} dst {UE4} proto esp spi 12 enc cbc(aes) {k16} auth-trunc hmac(sha1) {k20} 96": "",
            f"sa add src {PC4} dst fd00::2 proto esp spi 0x9200 enc cbc(aes) {k16} auth-trunc hmac(sha1) {k20} 96": "",
            "reg add": "",
            f"reg add ue {UE4}": "",
            f"reg add ue {UE4} pcscf {PC4}": "",
            reg.replace(" ik ", " IK "): "",
            reg.replace("ik 0123456789abcdef0123456789abcdef ", ""): "",
            reg.replace("ck fedcba9876543210fedcba9876543210 ", ""): "",
            reg.replace("ik 0123456789abcdef0123456789abcdef", "ik 0123"): "",
            reg.replace("ue-port-c 6062 ", ""): "",
            reg.replace("ealg aes-cbc", "ealg rot13"): "",
            reg.replace("alg hmac-sha-1-96", "alg crc32"): "",
            reg.replace("mod UDP-enc-tun", "mod carrier-pigeon"): "",
            reg.replace(f"ue {UE4}", "ue 10.42.0.256"): "",
            reg.replace(f"ue {UE4}", "ue fd00::2"): "",          # families differ
            reg + " lifetime": "",                                  # a word without its value
            reg + " reqid 7": "",                                   # reqid taken
            # SAs 1 and 2 are new, 3 clashes with reqid 7's pcscf-spi-c at the UE:
            # all four or none
            " ".join(reg_words(UE4, PC4, (6062, 6064), PC_PORTS, (5111, 5222, 3333, 5444))): "",
            " ".join(reg_words(UE4, PC4, UE_PORTS, PC_PORTS, (6111, 6222, 6333, 6444))): "",  # same ports
            "reg list extra": "",
            "sa list everything": "",
            "sa flush now": "",
            "ping " + "x " * 200: "",                               # too many words
            "events now": "",
        }
        # answered "ok" where an error was asked for: reported, not failed
        known = {"table reqid 999": "an empty list, ok:true (espnat exits 0)"}
        answers = {}
        s = conn(d.sock)
        for req in bad:
            answers[req] = answer_of(s, req.encode())
        s.close()
        wrong = {r: a for r, a in answers.items()
                 if a.get("ok") is not False or not a.get("error") or bad[r] not in a.get("error", "")}
        # encryption without integrity is accepted by the SA file syntax:
        # that one must have succeeded; it is removed again below
        enc_only = f"{base} enc cbc(aes) {k16}"
        wrong.pop(enc_only, None)
        for r, why in known.items():
            if r in wrong:
                wrong.pop(r)
                print(f"NOTE  {r!r}: {why}: {answers[r]}")
        if answers[enc_only].get("ok"):
            d.ctl("sa", "del", "spi", "0x9100", "dst", UE4)
        check(not wrong, f"{len(bad)} bad requests, each an error answer"
              + "".join(f"\n      {r[:70]!r} -> {a}" for r, a in list(wrong.items())[:8]))
        print("      e.g. " + "; ".join(f"{r[:40]!r}: {answers[r].get('error')}" for r in list(bad)[:3]))
        check(snapshot(d) == before, "sa list and reg list unchanged by the bad requests")
        a = d.ctl("reload", check_ok=False)
        time.sleep(0.3)
        check(snapshot(d) == before and d.p.poll() is None, f"reload without a config file changes nothing ({a.get('text') or a.get('error')})")

        marks.append(("bad requests", d.rss_kb()))
        # ---- line lengths
        s = conn(d.sock)
        a = answer_of(s, b"x" * 65534)
        check(a.get("ok") is False and "too long" not in a.get("error", ""),
              f"a 65534-byte line (the longest that fits) is a request: {str(a.get('error'))[:50]}")
        check(answer_of(s, b"ping").get("ok") is True, "the same connection answers a ping after it")
        s.sendall(b"y" * 65535)
        check(b"too long" in readline(s), "65535 bytes without a newline: refused as too long")
        try:
            gone = s.recv(10) == b""
        except OSError:
            gone = True
        check(gone, "and the connection closed")
        s.close()
        s = conn(d.sock)
        refused = b""
        try:
            for _ in range(50):            # 200 KiB in 4 KiB pieces
                s.sendall(b"z" * 4096)
                time.sleep(0.002)
        except OSError:
            pass
        try:
            refused = readline(s)
        except OSError:
            pass
        check(b"too long" in refused, f"200 KiB in pieces: refused ({refused[:60]!r})")
        s.close()

        marks.append(("line lengths", d.rss_kb()))
        # ---- partial lines
        for _ in range(20):
            s = conn(d.sock)
            s.sendall(b"sa flush")        # no newline: never a request
            s.close()
        time.sleep(0.2)
        check(snapshot(d) == before, "20 x 'sa flush' without a newline, then close: nothing flushed")
        half = conn(d.sock)
        half.sendall(b"reg del reqid 7")
        a, dt = ctl_raw(d.sock, "ping")
        check(a and a.get("ok") and dt < 1, f"a half line left open does not hold up others ({dt * 1000:.0f} ms)")
        half.sendall(b"0\n")              # reqid 70: not there
        a = json.loads(readline(half))
        check(a.get("ok") is False and "70" in a.get("error", ""), f"the half line completed later is one request ({a})")
        half.close()
        dribble = conn(d.sock, timeout=10)
        result = {}

        def dribbler():
            for ch in b"sa list\n":
                dribble.sendall(bytes([ch]))
                time.sleep(0.25)
            result["a"] = json.loads(readline(dribble))
        th = threading.Thread(target=dribbler)
        th.start()
        lat = []
        while th.is_alive():
            a, dt = ctl_raw(d.sock, "ping")
            lat.append(dt if a and a.get("ok") else 99)
            time.sleep(0.1)
        th.join()
        dribble.close()
        check(result.get("a", {}).get("ok") and len(result["a"]["sas"]) == 5,
              "a request dribbled a byte every 250 ms is answered once whole")
        check(lat and max(lat) < 1, f"others served meanwhile ({len(lat)} pings, max {max(lat) * 1000:.0f} ms)")

        marks.append(("partial lines", d.rss_kb()))
        # ---- pipelining
        s = conn(d.sock, timeout=10)
        s.sendall(b"ping\n" * 1000)
        buf = b""
        while buf.count(b"\n") < 1000:
            k = s.recv(1 << 20)
            if not k:
                break
            buf += k
        s.close()
        lines = buf.splitlines()
        check(len(lines) == 1000 and all(json.loads(x).get("ok") for x in lines),
              f"1000 pings in one write: {len(lines)} answers")
        # one read's worth (64 KiB) of pipelined `sa list keys`, read as it
        # comes: what the daemon holds for it must stay bounded. Each answer
        # is ~3 KiB here (5 SAs); answers built all at once before any is
        # sent would take 5000 x 3 KiB = 15 MB (and grow with the SAs: with
        # 1000 SAs, 4 GB)
        reqs = b"sa list keys\n" * (65535 // 13)
        peak, rss_p0, done = [0], d.rss_kb(), threading.Event()

        def watch():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], d.rss_kb())
                except OSError:
                    pass
                time.sleep(0.02)
        th = threading.Thread(target=watch, daemon=True)
        th.start()
        s = conn(d.sock, timeout=30)
        s.sendall(reqs)
        n_ans = 0
        try:
            while n_ans < len(reqs) // 13:
                k = s.recv(1 << 20)
                if not k:
                    break
                n_ans += k.count(b"\n")
        except socket.timeout:
            pass
        s.close()
        done.set()
        th.join()
        grown = peak[0] - rss_p0
        print(f"      {len(reqs) // 13} pipelined 'sa list keys' (64 KiB): {n_ans} answers, RSS peak "
              f"{peak[0]} kB ({grown:+d} kB)")
        check(n_ans == len(reqs) // 13, f"all {len(reqs) // 13} pipelined 'sa list keys' answered ({n_ans})")
        if not sanitized(d):
            check(grown < 8192, f"answering them raised RSS by less than 8 MB ({grown:+d} kB)")

        marks.append(("pipelining", d.rss_kb()))
        # ---- clients that do not read their answers. The daemon queues
        # answers (up to 1 MiB a client before it reads no more of its
        # requests) and sends what each socket takes when it takes it: others
        # are answered meanwhile, within a second even in the sanitizer
        # build (0.02 s is typical). A client that takes nothing for
        # STALL_MS (10 s, tools/daemon/control.c) is dropped.
        wait_bound, stall_s = 1.0, 10

        def held_up(reader, seconds):
            """Pings from another client while @reader runs; the longest
            wait for an answer."""
            th = threading.Thread(target=reader, daemon=True)
            th.start()
            worst, served, t_start = 0.0, 0, time.monotonic()
            while time.monotonic() - t_start < seconds:
                a, dt = ctl_raw(d.sock, "ping", timeout=120)
                worst = max(worst, dt)
                served += bool(a and a.get("ok"))
                if not th.is_alive() and dt < 0.1:
                    break
                time.sleep(0.1)
            th.join(timeout=120)
            return worst, served

        def never_reads():
            hog = conn(d.sock)
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            hog.setblocking(False)
            try:
                for _ in range(2000):
                    hog.send(b"sa list keys\n" * 50)
            except OSError:
                pass
            time.sleep(stall_s + 2)
            # dropped by now: what the daemon had sent, then the end (a
            # reset, when it closed with requests of ours still unread)
            hog.settimeout(2)
            try:
                for _ in range(64):       # 4 MiB: far more than a socket holds
                    if not hog.recv(65536):
                        hog_end.append("end")
                        break
            except ConnectionResetError:
                hog_end.append("reset")
            except OSError:
                pass
            hog.close()
        hog_end = []
        worst, served = held_up(never_reads, 20)
        print(f"      a client that never reads: another client waited up to {worst:.2f} s for a ping")
        check(served > 0 and worst < wait_bound,
              f"a client that never reads holds the others up less than {wait_bound:.0f} s (worst {worst:.2f} s)")
        check(hog_end, f"and it is dropped once it has taken nothing for {stall_s} s ({hog_end[0] if hog_end else 'still held'})")

        def reads_slowly():
            slow = conn(d.sock, timeout=30)
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            slow.sendall(b"sa list keys\n" * 2000)
            end = time.monotonic() + 20
            try:
                while time.monotonic() < end:     # 64 KiB every 3 s, for 20 s
                    time.sleep(3)
                    slow.recv(65536)
            except OSError:
                pass
            slow.close()
        worst, served = held_up(reads_slowly, 60)
        print(f"      a client reading 64 KiB every 3 s: another client waited up to {worst:.2f} s for a ping")
        check(served > 0 and worst < wait_bound,
              f"a client that reads slowly holds the others up less than {wait_bound:.0f} s (worst {worst:.2f} s)")
        a, dt = ctl_raw(d.sock, "ping")
        check(a and a.get("ok") and dt < 1, "answering promptly again after them")
        check(d.p.poll() is None, "still running")

        marks.append(("slow clients", d.rss_kb()))
        # ---- connection churn, the client limit, non-root peers; twice,
        # with the bad requests again in between: the first pass may raise
        # the heap's high-water mark (64 clients hold a 64 KiB buffer each),
        # the second must not add to it
        def refusal(s):
            """What the daemon said on @s without being asked; b"" if
            nothing (an accepted client it keeps)."""
            s.setblocking(False)
            try:
                return s.recv(200)
            except BlockingIOError:
                return b""
            finally:
                s.settimeout(5)

        def churn(tag):
            # straight after the part before: its last client may still be
            # on its way out, and must not cost one of the 64 its slot
            held = [conn(d.sock) for _ in range(64)]
            time.sleep(0.3)
            extra = conn(d.sock)
            try:
                msg = extra.recv(200)
            except socket.timeout:
                msg = b"(nothing in 5 s)"
            extra.close()
            said = [(i, r[:40]) for i, r in enumerate(map(refusal, held)) if r]
            check(b"too many" in msg and not said, f"{tag}64 connections held: the 65th refused"
                  + ("" if b"too many" in msg and not said else
                     f" (the 65th got {msg[:60]!r}; refused among the 64: {said[:3]}; "
                     f"daemon fds {len(d.fds())}, {fds0} at the start)"))
            # one leaves and one comes while the daemon is stopped, so that
            # it sees both at once: the one that left makes room. Stopped
            # only once back in poll(): stopped inside the loop that took
            # the 65th, it would take the newcomer in that same loop.
            check(waits_in_poll(d.pid()), f"{tag}the daemon waits in poll() again"
                  + ("" if POLL_SYSCALLS else f" (poll's number unknown on {os.uname().machine})"))
            os.kill(d.pid(), signal.SIGSTOP)
            try:
                check(stopped(d.pid()), f"{tag}the daemon stopped (SIGSTOP)")
                held.pop().close()
                newcomer = conn(d.sock)
            finally:
                os.kill(d.pid(), signal.SIGCONT)
            try:
                a = answer_of(newcomer, b"ping")
            except OSError as e:          # refused and closed before the ping
                a = {"error": e.strerror}
            newcomer.close()
            check(a.get("ok") is True, f"{tag}at the limit, a client that hung up makes room for one "
                  f"that connects at the same moment ({a.get('error') or 'served'})")
            for h in held:
                h.close()
            ok = False
            for _ in range(50):
                a, _ = ctl_raw(d.sock, "ping")
                if a and a.get("ok"):
                    ok = True
                    break
                time.sleep(0.05)
            check(ok, f"{tag}served again once they closed")
            os.chmod(d.sock, 0o666)
            os.chmod(lab.tmp, 0o755)
            nobody = subprocess.run(NOBODY + ["/usr/bin/python3", "-c", f"""
import socket
refused = 0
for i in range(250):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(5)
    s.connect({d.sock!r})
    try: s.sendall(b"sa flush\\n")
    except OSError: pass        # refused and closed already
    refused += b"for root" in s.recv(200); s.close()
print(refused)
"""], capture_output=True, text=True, timeout=60)
            check(nobody.stdout.strip() == "250", f"{tag}250 connections from a non-root peer: each refused ({nobody.stdout.strip()}{nobody.stderr[-200:]})")
            os.chmod(d.sock, 0o600)
            for i in range(250):
                s = conn(d.sock)
                if i % 2:
                    s.sendall(b"ping\n")
                    readline(s)
                s.close()

        rss_c0 = d.rss_kb()
        churn("")
        time.sleep(0.3)
        check(snapshot(d) == before, "after all of it: sa list and reg list unchanged")
        rss1, fds1 = state(d)
        s = conn(d.sock)
        again = [answer_of(s, r.encode()) for r in bad if r != enc_only]
        s.close()
        wrong = [(r[:60], a) for r, a in zip([r for r in bad if r != enc_only], again)
                 if r not in known and a.get("ok") is not False]
        check(not wrong, f"the bad requests once more: errors again {wrong[:3]}")
        churn("again: ")
        time.sleep(0.3)
        check(snapshot(d) == before, "and sa list and reg list still unchanged")
        rss2, fds2 = state(d)
        marks.append(("churn, twice", rss2))
        print("      RSS after each part: " + ", ".join(f"{n} {r} kB" for n, r in marks))
        print(f"      espnatd: RSS {rss0} -> {rss1} -> {rss2} kB (start, after one pass, after a second), "
              f"fds {fds0} -> {fds1} -> {fds2}")
        check(fds1 == fds0 and fds2 == fds0, f"no fd left behind ({fds0} -> {fds1} -> {fds2})")
        if sanitized(d):
            print("      (built with AddressSanitizer: its quarantine holds freed memory, RSS not checked)")
        else:
            check(rss1 - rss_c0 < 8192, f"first churn: RSS high-water grew by less than 8 MB ({rss1 - rss_c0:+d} kB)")
            check(rss2 - rss1 < 512, f"second pass: RSS grew by less than 512 kB ({rss2 - rss1:+d} kB)")
        check(d.p.poll() is None, "the daemon kept running throughout")
        rc = d.stop()
        check(rc == 0, f"clean stop on SIGTERM (rc {rc})")
        log = open(d.log, errors="replace").read()
        check("Sanitizer" not in log and "runtime error" not in log, "no sanitizer report in the log")
    finally:
        lab.close()
        print(f"control_abuse_test: ran {time.monotonic() - t0:.0f} s")
    print(f"control_abuse_test: {netns.passed} passed, {netns.failed} failed")
    return 1 if netns.failed else 0


if __name__ == "__main__":
    netns.run_main(main)
