#!/usr/bin/python3
"""tools/bench/espnat-e2e end to end, briefly, so that the benchmark keeps
working between the runs that measure with it: the no-IPsec baseline and
espnatd over NFQUEUE and over TUN (strongSwan is left out: it is measured,
not tested), one short rate search and one flood each at 200 bytes, UDP
through espnat-udpgen. Checks its exit status and, in its JSON, that each
espnatd pair passed the wire check (only ESP in UDP between the NAT and
B, the NAT's port learned) and had learned it again after each round's
restart, that every datagram the counter took was this
run's and intact (no corrupt, duplicate or foreign one), that the paced
5,000 pps step was carried (under 1 % loss), that the floods delivered, and
that espnatd's memory stayed bounded.
Usage: e2e_smoke_test.py BUILD_DIR"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import check  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
E2E = os.path.join(REPO, "tools", "bench", "espnat-e2e")


def udp_runs(rec):
    for key, val in rec.items():
        if key.startswith("flood"):
            yield from val["runs"]
        elif key.startswith("ramp"):
            for step in val["steps"]:
                yield from step["runs"]


def main():
    netns.need_root()
    work = os.path.join(BUILD, "e2e-smoke")
    out = os.path.join(BUILD, "e2e-smoke.json")
    r = subprocess.run(["/usr/bin/python3", E2E, "--quick", "--systems", "baseline,nfqueue,tun",
                        "--tests", "ramp,flood", "--sizes", "200", "--rates", "5000,20000",
                        "--no-install", "--bindir", os.path.join(BUILD, "tools"),
                        "--workdir", work, "--json", out],
                       capture_output=True, text=True, timeout=600)
    print(r.stdout[-3000:])
    if not check(r.returncode == 0, f"espnat-e2e exits 0 (rc {r.returncode}) {r.stderr[-500:]}"):
        return 1
    with open(out) as f:
        res = json.load(f)
    names = [s["name"] for s in res["systems"]]
    check(names == ["baseline", "espnatd-nfqueue", "espnatd-tun"], f"the three systems ran: {names}")
    for rec in res["systems"]:
        name = rec["name"]
        if name != "baseline":
            v = rec.get("verify", {})
            check(v.get("ok") is True, f"{name}: wire check passed: {v.get('summary')}")
            learned = [rd.get("learned", {}) for rd in rec.get("rounds", [])]
            check(learned and all(x.get("ok") is True for x in learned),
                  f"{name}: after each round B held the NAT's port: "
                  f"{[x.get('what') for x in learned]}")
        runs = list(udp_runs(rec))
        check(runs and all("udpgen" in x for x in runs),
              f"{name}: {len(runs)} UDP runs, all through espnat-udpgen")
        bad = [x["udpgen"]["counter"] for x in runs
               if x["udpgen"]["counter"]["corrupt"] or x["udpgen"]["counter"]["duplicates"] or
               x["udpgen"]["counter"]["foreign"] or x["udpgen"]["counter"]["truncated"]]
        check(not bad, f"{name}: no corrupt, duplicated, foreign or truncated datagram {bad}")
        steps = {s["offered_pps"]: s for s in rec["ramp200"]["steps"]}
        low = steps.get(5000)
        check(low is not None and low["good"],
              f"{name}: 5,000 pps carried, under 1 % loss "
              f"({low and low['summary']['loss']} %)")
        fl = rec["flood200"]["summary"]
        check(fl["rx_pps"] and fl["rx_pps"] > 5000, f"{name}: the flood delivered {fl['rx_pps']:.0f} pps")
    mem = res.get("memory", [])
    check(len(mem) == 4 and all(m["bounded"] for m in mem),
          f"espnatd's memory bounded over the floods: "
          f"{[(m['system'], m['side'], m['hwm_growth_mb']) for m in mem]}")
    print(f"e2e_smoke_test: {netns.passed} passed, {netns.failed} failed")
    return 1 if netns.failed else 0


if __name__ == "__main__":
    netns.run_main(main)
