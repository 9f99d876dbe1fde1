#!/usr/bin/python3
"""`espnat bench` from the outside: it runs every algorithm and mode, its
JSON and chart are well-formed and say what was asked, bad options are
refused. Rates are not judged here (they belong to the benchmark's own
runs, not to a test). Usage: bench_cli.py path/to/espnat"""
import json
import os
import subprocess
import sys
import tempfile
import xml.dom.minidom

ESPNAT = sys.argv[1]
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}", file=sys.stderr)


def bench(*args):
    return subprocess.run([ESPNAT, "bench", "-q", *args], capture_output=True, text=True,
                          timeout=300)


def rows_ok(doc, algs, ops, sizes, what, backend_alone=False):
    """backend_alone: each row also has the backend's own rate (a backend
    other than OpenSSL), else none has."""
    rows = doc.get("rows", [])
    want = {(a, o, s) for a in algs for o in ops for s in sizes}
    got = {(r["alg"], r["op"], r["size"]) for r in rows}
    check(got == want, f"{what}: rows {sorted(got)} != {sorted(want)}")
    for r in rows:
        check(r["engine_pps"] > 0 and r["bound_pps"] > 0, f"{what}: rates of {r}")
        ratio = r["engine_pps"] / r["bound_pps"]
        check(abs(r["engine_over_bound"] - ratio) < 1e-3 * ratio, f"{what}: ratio of {r}")
        if backend_alone:
            check(r.get("backend_pps", 0) > 0, f"{what}: the backend alone in {r}")
            ratio = r["engine_pps"] / r.get("backend_pps", 1)
            check(abs(r.get("engine_over_backend", 0) - ratio) < 1e-3 * ratio,
                  f"{what}: engine/backend of {r}")
        else:
            check("backend_pps" not in r and "engine_over_backend" not in r,
                  f"{what}: a backend figure with OpenSSL's: {r}")
        size = r["mean_bytes"]
        check(abs(r["engine_gbps"] - r["engine_pps"] * size * 8 / 1e9) < 1e-3 * r["engine_gbps"],
              f"{what}: Gbit/s of {r}")


ALL = [f"{e}-{a}" for e in ("null", "aes128", "aes192", "aes256", "3des") for a in ("md5", "sha1")]

with tempfile.TemporaryDirectory() as tmp:
    # every combination, every mode, both ways: the engine accepts all it made
    for mode in ("transport", "tunnel", "udp-enc-tun"):
        out = os.path.join(tmp, f"{mode}.json")
        r = bench("--alg", "all", "--mode", mode, "--sizes", "64,1400,imix", "--duration", "0.02",
                  "--repeat", "1", "--json", out)
        check(r.returncode == 0, f"{mode}: exit {r.returncode}: {r.stderr}")
        if r.returncode == 0:
            doc = json.load(open(out))
            check(doc["config"]["mode"] == {"udp-enc-tun": "UDP-enc-tun"}.get(mode, mode),
                  f"{mode}: config {doc['config']}")
            rows_ok(doc, ALL, ["encap", "decap"], ["64", "1400", "imix"], mode)
            check(len(r.stdout.splitlines()) == 3 + 1 + 60, f"{mode}: the table has 60 rows")

    # several threads and SAs, JSON on stdout, the chart
    svg = os.path.join(tmp, "chart.svg")
    r = bench("--alg", "aes128-sha1,3des-md5", "--threads", "2", "--sas", "1000", "--sizes",
              "128,512", "--duration", "0.02", "--repeat", "3", "--json", "-", "--svg", svg)
    check(r.returncode == 0, f"threads: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        doc = json.loads(r.stdout)
        rows_ok(doc, ["aes128-sha1", "3des-md5"], ["encap", "decap"], ["128", "512"], "threads")
        check(doc["config"]["threads"] == 2 and doc["config"]["sas"] == 1000, "threads: config")
        check(doc["sas"]["count"] == 1000 and doc["sas"]["install_per_s"] > 0 and
              doc["sas"]["rss_bytes_per_sa"] > 0 and
              doc["sas"]["rss_bytes_per_sa_after_runs"] > 0 and
              doc["sas"].get("random_line_ns", 0) > 0, f"threads: the SAs {doc.get('sas')}")
        d = xml.dom.minidom.parse(svg)
        lines = d.getElementsByTagName("polyline")
        check(len(lines) == 8, f"chart: {len(lines)} lines, want 4 series x (engine, bound)")
        texts = " ".join(t.firstChild.data for t in d.getElementsByTagName("text") if t.firstChild)
        check("aes128-sha1 encap" in texts and "3des-md5 decap" in texts, "chart: the legend")

    # the backend and burst options: said in the JSON and the table's header
    r = bench("--alg", "aes128-sha1", "--op", "encap", "--sizes", "128", "--duration", "0.02",
              "--repeat", "1", "--burst", "7", "--json", "-")
    check(r.returncode == 0, f"burst: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        doc = json.loads(r.stdout)
        check(doc["config"]["backend"] == "openssl" and doc["config"]["burst"] == 7,
              f"burst: config {doc['config']}")
        rows_ok(doc, ["aes128-sha1"], ["encap"], ["128"], "burst")
    r = bench("--alg", "aes128-sha1", "--sizes", "64", "--duration", "0.02", "--repeat", "1")
    check(r.returncode == 0 and "backend openssl, bursts of 32" in r.stdout.splitlines()[0],
          f"defaults in the header: {r.stdout.splitlines()[:1]}")
    check("backend Mpps" not in r.stdout and "random cache line" not in r.stdout,
          f"OpenSSL, one SA: no backend column, no memory line: {r.stdout}")
    # many SAs: the table says what a random line of their memory costs
    r = bench("--alg", "aes128-sha1", "--op", "encap", "--sizes", "64", "--sas", "3000",
              "--duration", "0.02", "--repeat", "1")
    check(r.returncode == 0 and "a random cache line of as much memory" in r.stdout,
          f"the memory line: {r.stdout}")
    mb = bench("--backend", "ipsec-mb", "--alg", "all", "--sizes", "64,1400", "--duration",
               "0.02", "--repeat", "1", "--burst", "64", "--json", "-")
    if "not built" in mb.stderr:
        # a build without the library says so and measures nothing
        check(mb.returncode == 2 and mb.stdout == "", f"ipsec-mb unbuilt: {mb.stderr}")
    else:
        check(mb.returncode == 0, f"ipsec-mb: exit {mb.returncode}: {mb.stderr}")
        if mb.returncode == 0:
            doc = json.loads(mb.stdout)
            check(doc["config"]["backend"] == "ipsec-mb" and doc["config"]["burst"] == 64,
                  f"ipsec-mb: config {doc['config']}")
            rows_ok(doc, ALL, ["encap", "decap"], ["64", "1400"], "ipsec-mb", backend_alone=True)
        t = bench("--backend", "ipsec-mb", "--op", "decap", "--sizes", "128", "--duration", "0.02",
                  "--repeat", "1")
        head = t.stdout.splitlines()[3] if t.returncode == 0 and len(t.stdout.splitlines()) > 4 else ""
        check("backend Mpps" in head and "eng/bkd" in head and
              len(t.stdout.splitlines()[4].split()) == 9, f"ipsec-mb: the table {t.stdout!r}")

    # refusals: exit 2, a message, nothing measured
    for args, msg in ((["--alg", "aes128-sha256"], "no ENC-AUTH"),
                      (["--alg", ""], ""),
                      (["--sizes", "39"], "40-9000"),
                      (["--sizes", "9001"], "40-9000"),
                      (["--sizes", "64,x"], "40-9000"),
                      (["--mode", "beet"], "--mode"),
                      (["--op", "both2"], "--op"),
                      (["--threads", "0"], "--threads"),
                      (["--threads", "-1"], "--threads"),
                      (["--sas", "0"], "--sas"),
                      (["--duration", "0"], "--duration"),
                      (["--duration", "nan"], "--duration"),
                      (["--repeat", "32"], "--repeat"),
                      (["--threads", "2", "--op", "decap"], "--sas >= --threads"),
                      (["--backend", "gcrypt"], "--backend is openssl or ipsec-mb"),
                      (["--backend", ""], "--backend is openssl or ipsec-mb"),
                      (["--burst", "0"], "--burst is 1-256"),
                      (["--burst", "257"], "--burst is 1-256"),
                      (["--burst", "-3"], "--burst is 1-256"),
                      (["--burst", "4x"], "--burst is 1-256"),
                      (["extra"], "unexpected"),
                      (["--bogus"], "")):
        r = bench(*args)
        check(r.returncode == 2 and msg in r.stderr and r.stdout == "",
              f"{args}: exit {r.returncode}, stderr {r.stderr!r}")
    r = bench("--json", "/nonexistent/x.json", "--duration", "0.02", "--repeat", "1",
              "--sizes", "64")
    check(r.returncode == 1 and "/nonexistent/x.json" in r.stderr, f"unwritable JSON: {r.stderr}")
    r = subprocess.run([ESPNAT, "bench", "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "--sas" in r.stdout and "--backend" in r.stdout and
          "--burst" in r.stdout, "--help")

print(f"bench_cli: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
