#!/usr/bin/python3
"""tools/bench/espnat-ctl-rate, which the README quotes for the control
socket's SA install rate and espnatd's memory per installed SA, so that the
benchmark keeps working between the runs that measure with it. It starts
its own espnatd in a namespace of its own. Checks, without and with a
state file: every `sa add` and `sa del` was answered ok; the JSON carries
the figures the text prints; an SA no packet has used yet holds no OpenSSL
cipher context (espnatd grows by well under the ~1,400 bytes per SA it
took with one; not in a sanitizer's build, whose allocator pads
everything); no namespace is left behind; a bad --sas is refused.
Usage: ctl_rate_test.py BUILD_DIR [B_SANITIZE]"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import check  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SANITIZED = len(sys.argv) > 2 and sys.argv[2] not in ("", "none")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RATE = os.path.join(REPO, "tools", "bench", "espnat-ctl-rate")


def namespaces():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in r.stdout.splitlines()
            if line.startswith("espnat-ctl-rate-")]


def rate(*args):
    return subprocess.run(["/usr/bin/python3", RATE, "--bindir", os.path.join(BUILD, "tools"),
                           "--json", "-", *args], capture_output=True, text=True, timeout=300)


def run_one(sas, *extra):
    r = rate("--sas", str(sas), *extra)
    what = f"{sas} SAs{' ' + ' '.join(extra) if extra else ''}"
    if not check(r.returncode == 0, f"{what}: exits 0 (rc {r.returncode}) {r.stderr[-300:]}"):
        return None
    text, _, js = r.stdout.partition("{")
    doc = json.loads("{" + js)
    check(doc["add"]["ok"] == sas and doc["del"]["ok"] == sas,
          f"{what}: every add and del answered ok ({doc['add']['ok']}, {doc['del']['ok']})")
    check(doc["add"]["per_s"] > 0 and doc["del"]["per_s"] > 0 and
          doc["add"]["cpu_us_per_sa"] >= 0,
          f"{what}: rates {doc['add']['per_s']:.0f} and {doc['del']['per_s']:.0f} SAs/s")
    check(f"{sas} ok in" in text and "bytes resident per installed SA" in text,
          f"{what}: the text names the answers and the memory")
    return doc


def main():
    netns.need_root()
    before = set(namespaces())
    doc = run_one(20000)
    if doc and SANITIZED:
        print(f"memory per SA not judged in a sanitizer's build ({doc['rss_bytes_per_sa']:.0f} "
              "bytes)")
    elif doc:
        per_sa = doc["rss_bytes_per_sa"]
        check(300 < per_sa < 1100,
              f"an installed SA takes {per_sa:.0f} bytes in espnatd: no cipher context yet")
    run_one(2000, "--state")
    r = rate("--sas", "0")
    check(r.returncode != 0 and "--sas is 1-16000000" in r.stderr,
          f"--sas 0 is refused (rc {r.returncode}: {r.stderr.strip()})")
    r = rate("--bogus")
    check(r.returncode == 2, f"an unknown option exits 2 (rc {r.returncode})")
    check(set(namespaces()) == before, f"no namespace left behind: {namespaces()}")
    print(f"ctl_rate_test: {netns.passed} passed, {netns.failed} failed")
    return 0


if __name__ == "__main__":
    netns.run_main(main)
