#!/usr/bin/python3
"""Steady request/answer traffic for soak_test.py, run inside a namespace:

    traffic_agent.py ADDR SERVER_PORT PEER PEER_SERVER_PORT RATE

It answers every datagram arriving on ADDR:SERVER_PORT ("ANSWER:" and the
request), and sends RATE requests a second from its current client port to
PEER:PEER_SERVER_PORT, counting the answers. Commands on stdin, one a line:
  port P   send from port P from now on (the old socket still takes late
           answers for a second)
  idle     stop sending (the port stays)
  stats    print {"sent":..,"answered":..,"served":..} for the time since
           the last `stats`, as one JSON line
  quit
"""
import json
import select
import socket
import sys
import threading
import time

addr, sport, peer, pport, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
lock = threading.Lock()
counts = {"sent": 0, "answered": 0, "served": 0, "late": 0}
state = {"cur": None, "old": [], "seq": 0, "outstanding": set()}
stop = threading.Event()

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind((addr, sport))


def client_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.setblocking(False)
    return s


def sender():
    period = 1.0 / rate
    nxt = time.monotonic()
    while not stop.is_set():
        with lock:
            s = state["cur"]
            if s is not None:
                state["seq"] += 1
                msg = b"SOAK-MARKER-%d" % state["seq"]
                try:
                    s.sendto(msg, (peer, pport))
                    counts["sent"] += 1
                    state["outstanding"].add(msg)
                except OSError:
                    counts["sent"] += 1
        nxt += period
        time.sleep(max(0.0, nxt - time.monotonic()))


def receiver():
    while not stop.is_set():
        with lock:
            now = time.monotonic()
            for s, t in [x for x in state["old"] if x[1] < now]:
                s.close()
                state["old"].remove((s, t))
            socks = [server] + ([state["cur"]] if state["cur"] else []) + [s for s, _ in state["old"]]
        r, _, _ = select.select(socks, [], [], 0.05)
        for s in r:
            try:
                data, src = s.recvfrom(65535)
            except OSError:
                continue
            with lock:
                if s is server:
                    counts["served"] += 1
                    try:
                        server.sendto(b"ANSWER:" + data, src)
                    except OSError:
                        pass
                elif data.startswith(b"ANSWER:"):
                    msg = data[7:]
                    if msg in state["outstanding"]:
                        state["outstanding"].discard(msg)
                        counts["answered"] += 1
                    else:
                        counts["late"] += 1


threading.Thread(target=sender, daemon=True).start()
threading.Thread(target=receiver, daemon=True).start()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] == "port":
        with lock:
            if state["cur"] is not None:
                state["old"].append((state["cur"], time.monotonic() + 1.0))
            state["cur"] = client_socket(int(w[1]))
        print(json.dumps({"ok": True}), flush=True)
    elif w[0] == "idle":
        with lock:
            if state["cur"] is not None:
                state["old"].append((state["cur"], time.monotonic() + 1.0))
            state["cur"] = None
        print(json.dumps({"ok": True}), flush=True)
    elif w[0] == "stats":
        with lock:
            out = dict(counts)
            # what was sent in the last second may still be on its way:
            # counted as unanswered, so callers wait a little first
            out["outstanding"] = len(state["outstanding"])
            state["outstanding"].clear()
            for k in counts:
                counts[k] = 0
        print(json.dumps(out), flush=True)
    elif w[0] == "quit":
        break
stop.set()
