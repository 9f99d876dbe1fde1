"""The lab's scenario: two UEs behind one real NAT register with a P-CSCF
using IMS AKA and sec-agree (TR 33.803 Annex D A.7.2), each step checked
against what the daemons, the simulators and the NAT's conntrack table say.

The P-CSCF is the built-in simulator (espnat-lab-sim pcscf, a registrar
inside) or, with `--pcscf kamailio`, Debian's Kamailio running the shipped
contrib/kamailio configuration beside the same espnatd, with the S-CSCF
simulator (espnat-lab-sim scscf) as its registrar in a namespace of its
own. Kamailio's script reports the same facts as the simulator (NAT
detection, the SAs and their reqid) in its log, which the lab reads."""
import os
import re
import time

import labnet
from labnet import Espnatd, EventStream, Sim

LAN_NET = "10.77.1.0/24"
NAT_LAN = "10.77.1.1"
NAT_WAN = "203.0.113.7"      # the UEs' public address: the NAT's WAN side
PCSCF = "203.0.113.5"
PCSCF_PORTS = "5066,5068,5070,5072,5074"
ENC_PORT = 4500
# --pcscf kamailio: the core network (Mw) between Kamailio and the S-CSCF
PCSCF_CORE = "192.0.2.5"
SCSCF = "192.0.2.9"

# Subscribers with the K and OPc of 3GPP TS 35.208 test sets 1 and 2
UES = [
    dict(name="UE1", impi="alice@ims.lab", addr="10.77.1.11", datapath="nfqueue",
         k="465b5ce8b199b49faa5f0a2ee238a6bc", opc="cd63cb71954a9f4e48a5994e37a02baf",
         ports=(5062, 5064), protected="5062-5065"),
    dict(name="UE2", impi="bob@ims.lab", addr="10.77.1.12", datapath="tun",
         k="0396eb317b6d1c36f19c1c84cd6ffd16", opc="53c15671c60a4b731c55b4a441c0bde2",
         ports=(5062, 5064), protected="5062-5065,6062-6065"),
]
UE2_RETRY_PORTS = (6062, 6064)


class StepFailed(Exception):
    pass


class Timing:
    """How long the NAT keeps a silent UDP mapping, how often the UEs send
    keepalives, how long the lab waits to see a mapping die."""

    def __init__(self, fast):
        self.nat_timeout = 6 if fast else 30
        self.keepalive = 2 if fast else 10
        self.wait = self.nat_timeout + 4


class Story:
    """The narrative on the terminal: steps, the simulators' and daemons'
    events in time order, checks with their verdicts."""

    def __init__(self, quiet=False):
        self.quiet = quiet
        self.pending = []
        self.passed = self.failed = 0
        self.marks = []         # (epoch, step title) for the ladder

    def sink(self, t, who, ev):
        self.pending.append((t, who, ev))

    def say(self, text=""):
        if not self.quiet:
            print(text, flush=True)

    def step(self, n, title):
        self.flush()
        title = f"{n}. {title}" if n != "" else title
        self.marks.append((time.time(), title))
        self.say(f"\n== {title}")

    def flush(self):
        for _, who, ev in sorted(self.pending, key=lambda e: e[0]):
            line = describe(ev)
            if line:
                self.say(f"   {who:<8} {line}")
        self.pending = []

    def check(self, cond, what, detail="", fatal=True):
        self.flush()
        if cond:
            self.passed += 1
            self.say(f"   ok    {what}")
        else:
            self.failed += 1
            print(f"   FAIL  {what}{': ' + detail if detail else ''}", flush=True)
            if fatal:
                raise StepFailed(what)
        return cond

    def show(self, text):
        self.flush()
        for line in text.rstrip("\n").splitlines():
            self.say(f"         | {line}")


def describe(ev):
    kind = ev.get("event")
    if kind == "ready":
        return None
    if kind == "sent" and "label" in ev:
        what = ev["label"] if ev["msg"] in ev["label"] else f"{ev['label']} {ev['msg']}"
        return f"-> {what}, {'protected' if ev.get('protected') else 'unprotected'}"
    if kind == "sent" and "status" in ev:
        return f"-> {ev['status']} {ev['msg']}" + (f" ({ev['warning']})" if ev.get("warning") else "")
    if kind == "sas" and "reqid" in ev:
        who = f" for {ev['impi']}" if ev.get("impi") else ""
        return (f"SAs of reqid {ev['reqid']}{who} installed: {ev['mode']}, "
                f"{ev['alg']}, {ev['ealg']}")
    if kind == "request":
        return f"<- {ev['method']} from {ev['from']}:{ev['port']} \"{ev.get('body', '')}\""
    if "text" in ev:
        return ev["text"] if kind in ("sent", "received") else f"[{kind}] {ev['text']}"
    return str(ev)


class Lab:
    """The network, the daemons, the simulators, and the checks' helpers."""

    def __init__(self, net, bindir, outdir, timing, story, pcscf="sim", contrib=None):
        self.net, self.bindir, self.outdir = net, bindir, outdir
        self.t, self.story = timing, story
        self.kind = pcscf       # "sim" or "kamailio"
        self.contrib = contrib  # contrib/kamailio, for kamailio
        self.kam = None
        self.scscf_events = []  # what the S-CSCF simulator reported
        self.pc_events = []     # what the P-CSCF (simulator or Kamailio) reported
        self.sa_lines = {}      # spi -> SA line with keys, for Wireshark
        self.learned = {}       # reqid -> event
        self.moved = {}
        self.captures = []
        self.pc_reqid = {}      # IMPI -> the reqid of its newest P-CSCF SAs
        self.requests = {}      # UE name -> requests that reached it
        self.ue_reqid = {}      # UE name -> the reqid of its newest SAs
        self.nat_reports = []   # (who, text) of the NAT detection reports

    def sink(self, t, who, ev):
        if who == "P-CSCF" and ev.get("event") == "sas" and "impi" in ev:
            self.pc_reqid[ev["impi"]] = ev["reqid"]
        if who.startswith("UE") and ev.get("event") == "sas" and "reqid" in ev:
            self.ue_reqid[who] = ev["reqid"]
        if ev.get("event") == "request":
            self.requests.setdefault(who, []).append(ev)
        if ev.get("event") == "nat":
            self.nat_reports.append((who, ev.get("text", "")))
        if who == "S-CSCF":
            self.scscf_events.append(ev)
        if who == "P-CSCF":
            self.pc_events.append(ev)
        self.story.sink(t, who, ev)

    # ---- building it ----

    def build(self):
        net = self.net
        self.nat = net.ns("nat")
        self.pc = net.ns("pcscf")
        net.ip(self.nat, "link", "add", "br0", "type", "bridge")
        net.ip(self.nat, "addr", "add", f"{NAT_LAN}/24", "dev", "br0")
        net.ip(self.nat, "link", "set", "br0", "up")
        net.veth(self.nat, "wan0", self.pc, "eth0")
        net.ip(self.nat, "addr", "add", f"{NAT_WAN}/24", "dev", "wan0")
        net.ip(self.pc, "addr", "add", f"{PCSCF}/24", "dev", "eth0")
        labnet.nat_setup(net, self.nat, "wan0", self.t.nat_timeout)
        for i, ue in enumerate(UES):
            ue["ns"] = net.ns(ue["name"].lower())
            port = f"lan{i + 1}"
            net.veth(ue["ns"], "eth0", self.nat, port)
            net.ip(self.nat, "link", "set", port, "master", "br0")
            net.ip(ue["ns"], "addr", "add", f"{ue['addr']}/24", "dev", "eth0")
            net.ip(ue["ns"], "route", "add", "default", "via", NAT_LAN)
            # the UE's inner address in UDP-encapsulated tunnel mode is the
            # public one the P-CSCF reports in `received` (TR 33.803 B.3)
            net.ip(ue["ns"], "addr", "add", f"{NAT_WAN}/32", "dev", "lo")
        self.captures = [
            labnet.Capture(net, self.nat, "br0", os.path.join(self.outdir, "lan.pcap")),
            labnet.Capture(net, self.nat, "wan0", os.path.join(self.outdir, "wan.pcap")),
        ]
        if self.kind == "kamailio":
            # the S-CSCF behind the P-CSCF, on a link of their own (Mw)
            self.sc = net.ns("scscf")
            net.veth(self.pc, "core0", self.sc, "eth0")
            net.ip(self.pc, "addr", "add", f"{PCSCF_CORE}/24", "dev", "core0")
            net.ip(self.sc, "addr", "add", f"{SCSCF}/24", "dev", "eth0")
            core = os.path.join(self.outdir, "core.pcap")
            self.captures.append(labnet.Capture(net, self.sc, "eth0", core))
            os.chmod(core, 0o600)   # the S-CSCF's 401s carry CK and IK

    def start(self):
        net, sink = self.net, self.sink
        self.pcd = Espnatd(net, self.pc, "pcscf", self.bindir, {
            "datapath": "nfqueue", "role": "pcscf", "protected-ports": PCSCF_PORTS,
            "silent-after": self.t.nat_timeout * 3})
        self.pcd.start()
        self.events = EventStream(self.pcd, os.path.join(net.workdir, "pcscf-events.log"))
        subs = [f"--subscriber={ue['impi']}:{ue['k']}:{ue['opc']}" for ue in UES]
        sim = os.path.join(self.bindir, "espnat-lab-sim")
        if self.kind == "sim":
            self.pcscf = Sim(net, self.pc, "P-CSCF", [sim, "pcscf", "--addr", PCSCF, "--espnatd",
                                                     self.pcd.sock, *subs],
                             os.path.join(net.workdir, "pcscf-sim.log"), sink)
            self.sender = self.pcscf    # who sends the MESSAGEs toward the UEs
        else:
            self.scscf = Sim(net, self.sc, "S-CSCF", [sim, "scscf", "--addr", SCSCF, *subs],
                             os.path.join(net.workdir, "scscf-sim.log"), sink)
            self.sender = self.scscf
            self.start_kamailio()
        for i, ue in enumerate(UES):
            name = ue["name"].lower()
            settings = {"datapath": ue["datapath"], "role": "ue",
                        "protected-ports": ue["protected"], "keepalive": self.t.keepalive}
            if ue["datapath"] == "tun":
                settings["tun"] = f"esp{name}"
            ue["d"] = Espnatd(net, ue["ns"], name, self.bindir, settings)
            ue["d"].start()
            ue["sim"] = Sim(net, ue["ns"], ue["name"], [
                sim, "ue", "--impi", ue["impi"], "--k", ue["k"], "--opc", ue["opc"],
                "--local", ue["addr"], "--pcscf", PCSCF,
                "--ports", f"{ue['ports'][0]},{ue['ports'][1]}", "--espnatd", ue["d"].sock,
                "--reqid", str(10 * (i + 1))], os.path.join(net.workdir, f"{name}-sim.log"), sink)

    def start_kamailio(self):
        """The shipped configuration, unchanged: the lab's addresses, paths
        and a shorter timer toward the UEs given as defines."""
        work = os.path.join(self.net.workdir, "kamailio")
        os.makedirs(work, mode=0o700, exist_ok=True)
        defines = {
            "ACCESS_IP": PCSCF, "ACCESS_PORT": 5060, "PORT_PS": 5068,
            "PORT_PC1": 5066, "PORT_PC2": 5070, "PORT_PC3": 5072, "PORT_PC4": 5074,
            "CORE_IP": PCSCF_CORE, "CORE_PORT": 5060,
            "REGISTRAR": f'"sip:{SCSCF}:5060"',
            "ESPNAT_CONTROL": f'"{self.pcd.sock}"',
            "ESPNAT_STATE": f'"{os.path.join(work, "sa-table.db")}"',
            "ESPNAT_SCRIPT": f'"{os.path.join(self.contrib, "espnat_pcscf.py")}"',
            "TERM_TIMEOUT_MS": 4000, "EXPIRY_MARGIN": 1,
            # Kamailio's side in plain text, for the report (holds CK/IK: 0600)
            "WITH_SIPDUMP": None, "SIPDUMP_DIR": f'"{work}"',
        }
        self.kam = labnet.Kamailio(self.net, self.pc, os.path.join(self.contrib, "espnat-pcscf.cfg"),
                                   defines, os.path.join(self.net.workdir, "kamailio.log"),
                                   self.sink, os.path.join(work, "run"))

    def stop(self):
        for sim in [self.__dict__.get(n) for n in ("pcscf", "scscf")] + [ue.get("sim") for ue in UES]:
            if sim:
                sim.quit()
        if self.kam:
            self.kam.stop()
            work = os.path.join(self.net.workdir, "kamailio")
            for f in os.listdir(work):
                if os.path.isfile(os.path.join(work, f)):
                    os.chmod(os.path.join(work, f), 0o600)
        for cap in self.captures:
            cap.stop()

    # ---- what the checks look at ----

    def poll_events(self):
        for ev in self.events.drain():
            self.story.sink(time.monotonic(), "espnatd", dict(ev, event=ev["event"]))
            if ev["event"] == "learned":
                self.learned[ev["reqid"]] = ev
            elif ev["event"] == "moved":
                self.moved.setdefault(ev["reqid"], []).append(ev)

    def wait_for(self, what, cond, timeout=3.0):
        """Polls the daemon's events until cond() holds."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll_events()
            value = cond()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.05)

    def new_pc_reqid(self, impi, old=None, timeout=3.0):
        """The reqid of the P-CSCF's newest SAs for impi, once it is not
        `old`: Kamailio's log line may come in after the UE's answer."""
        return self.wait_for("sas", lambda: self.pc_reqid.get(impi) not in (None, old) and
                             self.pc_reqid[impi], timeout) or self.pc_reqid.get(impi)

    def mapping(self, ue):
        return labnet.nat_mapping(self.net, self.nat, ue["addr"], ENC_PORT)

    def reg(self, reqid):
        for r in self.pcd.ctl("reg", "list").get("registrations", []):
            if r["reqid"] == reqid:
                return r
        return None

    def reqids(self, daemon):
        return sorted(r["reqid"] for r in daemon.ctl("reg", "list").get("registrations", []))

    def collect_keys(self):
        """The P-CSCF's SAs with their keys, for the Wireshark esp_sa file
        (kept as they come: re-registration removes the old ones)."""
        for sa in self.pcd.ctl("sa", "list", "keys").get("sas", []):
            self.sa_lines[sa["spi"]] = sa["sa"]

    def stats(self, daemon):
        return daemon.ctl("stats")

    def show_table(self, reqid):
        t = self.pcd.table(reqid)
        if t:
            self.story.show(t["text"])
        return t


# ---- the steps ----

def step_register_first(lab, story, ue1):
    story.step(1, "UE1 sends SM1 through the NAT; the P-CSCF sees the NAT and challenges")
    ok, err = ue1["sim"].command("sm1")
    story.check(ok, "SM1 answered by 401 Unauthorized with Security-Server and the AKA challenge", err)
    story.check(("P-CSCF", True) in [(w, "behind a NAT" in t) for w, t in lab.nat_reports],
                "P-CSCF: the Via names a private address, the packet came from the NAT "
                "(received, rport added)")
    story.check(("UE1", True) in [(w, "behind a NAT" in t) for w, t in lab.nat_reports],
                "UE1: `received` in the 401 differs from its own address: behind a NAT")
    reqid = lab.new_pc_reqid(ue1["impi"])
    story.check(reqid is not None, "P-CSCF installed four SAs in UDP-encapsulated tunnel mode")
    t = lab.show_table(reqid)
    story.check(t is not None and t["port"] == 0,
                "P-CSCF encapsulation table: port_Uenc undef before SM7 (nothing can be sent to UE1)",
                f"table: {t}")
    story.check(lab.stats(ue1["d"])["sas"] == 4, "UE1's espnatd holds its four SAs")
    return reqid


def step_sm7(lab, story, ue1, reqid):
    story.step(2, "SM7, protected in UDP-enc-tun: the P-CSCF learns port_Uenc from it")
    ok, err = ue1["sim"].command("sm7")
    story.check(ok, "SM7 verified by the P-CSCF; 200 OK (SM12) back through the NAT, protected", err)
    ev = lab.wait_for("learned", lambda: lab.learned.get(reqid))
    mapped = lab.mapping(ue1)
    if lab.kind == "kamailio":
        story.check(lab.wait_for("verified", lambda: any(
                        e.get("event") == "verified" and e.get("reqid") == reqid for e in lab.pc_events)),
                    "Kamailio checked SM7 (arrived in plain UDP on its port 5068): Via, "
                    "Security-Verify = the Security-Server it sent, Security-Client = SM1's")
        story.check(lab.wait_for("registered", lambda: any(
                        e.get("event") == "registered" and ue1["impi"] in e.get("text", "")
                        for e in lab.scscf_events)),
                    "the S-CSCF found RES = XRES and SM7 marked integrity-protected=\"yes\" by Kamailio")
    story.check(ev is not None, "espnatd reported port_Uenc learned from an authenticated packet")
    story.check(ev["port"] == mapped,
                f"the learned port_Uenc {ev['port']} is the NAT's mapping of "
                f"{ue1['addr']}:{ENC_PORT} (conntrack: {mapped})")
    lab.show_table(reqid)
    lab.collect_keys()
    return ev["port"]


def message(lab, story, ue, expect=True, what=None):
    """A P-CSCF-initiated MESSAGE to the UE's protected server port."""
    before = len(lab.requests.get(ue["name"], []))
    ok, err = lab.sender.command(f"message {ue['impi']}", timeout=15)
    # the UE reports before it answers, but its line may still be in flight
    deadline = time.monotonic() + 1
    while ok and len(lab.requests.get(ue["name"], [])) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    got = lab.requests.get(ue["name"], [])[before:]
    arrived = ok and any(r["method"] == "MESSAGE" and ue["impi"] in r.get("body", "") for r in got)
    if expect:
        story.check(arrived, what or f"MESSAGE from the P-CSCF reached {ue['name']}'s protected "
                    "server port through the NAT binding and was answered", err)
    else:
        story.check(not ok and not got, what, "it got through")
    return arrived


def step_keepalives_hold(lab, story, ue1, port):
    t = lab.t
    story.step(4, f"Keepalives every {t.keepalive} s hold the NAT binding past its "
               f"{t.nat_timeout} s UDP timeout")
    sent0 = lab.stats(ue1["d"])["keepalives_sent"]
    heard0 = lab.stats(lab.pcd)["keepalive"]
    story.say(f"         waiting {t.wait} s")
    time.sleep(t.wait)
    sent = lab.stats(ue1["d"])["keepalives_sent"] - sent0
    heard = lab.stats(lab.pcd)["keepalive"] - heard0
    story.check(sent >= t.wait // t.keepalive - 1 and heard >= sent - 1,
                f"UE1's espnatd sent {sent} keepalives, the P-CSCF's heard {heard}")
    story.check(lab.mapping(ue1) == port, f"the NAT still maps {ue1['addr']}:{ENC_PORT} to {port}")
    message(lab, story, ue1)


def step_control(lab, story, ue1):
    t = lab.t
    story.step(5, "Control: keepalives off (config edited, SIGHUP): the binding dies")
    ue1["d"].set("keepalive", 0)
    sent0 = lab.stats(ue1["d"])["keepalives_sent"]
    story.say(f"         waiting {t.wait} s")
    time.sleep(t.wait)
    story.check(lab.stats(ue1["d"])["keepalives_sent"] == sent0, "UE1 sent no keepalives")
    story.check(lab.mapping(ue1) is None, "the NAT dropped the idle mapping")
    encap0 = lab.stats(lab.pcd)["encap"]
    message(lab, story, ue1, expect=False,
            what="the MESSAGE, protected and sent to the old port_Uenc, is lost at the NAT")
    story.check(lab.stats(lab.pcd)["encap"] > encap0, "(the P-CSCF's espnatd did protect and send it)")


def step_rebind(lab, story, ue1, reqid, old_port):
    story.step(6, "The NAT rebinds: UE1's next protected request moves port_Uenc")
    ue1["d"].set("keepalive", lab.t.keepalive)
    labnet.nat_flush(lab.net, lab.nat)
    ok, err = ue1["sim"].command("options")
    story.check(ok, "UE1's OPTIONS, protected, answered", err)
    mapped = lab.mapping(ue1)
    if mapped == old_port:
        story.say(f"         (the NAT picked port {mapped} again: nothing to move)")
    else:
        moved = lab.wait_for("moved", lambda: lab.moved.get(reqid))
        story.check(bool(moved) and moved[-1]["port"] == mapped and moved[-1]["old_port"] == old_port,
                    f"espnatd moved port_Uenc {old_port} -> {mapped} on the authenticated request",
                    f"events: {moved}, conntrack: {mapped}")
    t = lab.show_table(reqid)
    story.check(t["port"] == mapped, "the table follows the NAT's new mapping")
    message(lab, story, ue1, what="MESSAGE to UE1 through the new binding")
    return mapped


def step_second_ue(lab, story, ue1, ue2, port1):
    story.step(7, "UE2, behind the same NAT, picked the same protected ports: refused")
    ok, err = ue2["sim"].command("register")
    story.check(not ok and "403" in err,
                "SM1 refused with 403 Forbidden and a Warning (TR 33.803 A.7.1 rule 3, "
                "TS 33.203 7.1)", err or "it was accepted")
    story.say(f"         UE2 was told: {err}")
    story.check(lab.stats(ue2["d"])["sas"] == 0, "UE2's espnatd holds no SAs")
    if lab.kind == "kamailio":
        story.check(not any(e.get("event") == "challenge" and ue2["impi"] in e.get("text", "")
                            for e in lab.scscf_events),
                    "Kamailio refused it at SM1: the S-CSCF never challenged UE2")

    if lab.kind == "kamailio":
        step_refusals(lab, story, ue2)

    story.step(8, "UE2 retries with fresh ports and registers with its own port_Uenc")
    a, b = UE2_RETRY_PORTS
    old = lab.pc_reqid.get(ue2["impi"])
    ok, err = ue2["sim"].command(f"ports {a} {b}")
    ok, err = ue2["sim"].command("register")
    story.check(ok, f"UE2 registered with protected ports {a}/{b} (TUN data path)", err)
    reqid2 = lab.new_pc_reqid(ue2["impi"], old)
    ev = lab.wait_for("learned", lambda: lab.learned.get(reqid2))
    mapped = lab.mapping(ue2)
    story.check(ev is not None and ev["port"] == mapped and mapped != port1,
                f"UE2's port_Uenc {mapped} learned, not UE1's {port1}", f"event {ev}")
    lab.collect_keys()
    story.show(lab.pcd.ctl("reg", "list")["text"])

    story.step(9, "Both UEs side by side")
    message(lab, story, ue1, what="MESSAGE to UE1 reaches UE1 (alice)")
    message(lab, story, ue2, what="MESSAGE to UE2 reaches UE2 (bob)")
    for ue in (ue1, ue2):
        ok, err = ue["sim"].command("options")
        story.check(ok, f"{ue['name']}'s OPTIONS to the P-CSCF answered", err)
    return reqid2


def sa_ports(lab, reqid):
    """The UE-side ports in the P-CSCF's SA selectors of one registration."""
    ports = set()
    for sa in lab.pcd.ctl("sa", "list").get("sas", []):
        if sa["reqid"] != reqid:
            continue
        for m in re.finditer(r"\b[sd]port (\d+)", sa["sa"]):
            ports.add(int(m.group(1)))
    return ports


def step_reregister(lab, story, ue1, old_reqid, port):
    story.step(10, "UE1 re-registers over its SAs: new SAs, client port changes, server port stays")
    uc, us = ue1["ports"]
    ok, err = ue1["sim"].command("reregister")
    story.check(ok, "SM1 and SM7 over the SAs, 200 OK over the new ones", err)
    reqid = lab.new_pc_reqid(ue1["impi"], old_reqid)
    story.check(reqid != old_reqid and lab.reg(old_reqid) is None and lab.reg(reqid) is not None,
                f"P-CSCF: reqid {old_reqid} gone, {reqid} in force")
    story.check(lab.reqids(ue1["d"]) == [lab.ue_reqid["UE1"]],
                "UE1's espnatd holds only the new registration")
    ports = sa_ports(lab, reqid)
    story.check(uc + 1 in ports and us in ports and uc not in ports,
                f"new SAs: UE client port {uc + 1} (was {uc}), server port {us}", f"ports {ports}")
    ev = lab.wait_for("learned", lambda: lab.learned.get(reqid))
    story.check(ev is not None and ev["port"] == port,
                f"port_Uenc of the new SAs learned from their first packet: {port}, the same binding")
    lab.show_table(reqid)
    lab.collect_keys()
    message(lab, story, ue1, what="MESSAGE to UE1 over the new SAs")
    return reqid


def step_deregister(lab, story, ue1, ue2, reqid):
    t = lab.t
    story.step(11, "UE1 de-registers: SAs removed, keepalives stop")
    ok, err = ue1["sim"].command("deregister")
    story.check(ok, "de-REGISTER (Expires: 0) answered, protected", err)
    story.check(lab.wait_for("gone", lambda: lab.reg(reqid) is None),
                f"P-CSCF's espnatd: the SAs of reqid {reqid} gone")
    story.check(lab.stats(ue1["d"])["sas"] == 0, "UE1's espnatd: no SAs left")
    if lab.kind == "kamailio":
        story.check(lab.wait_for("deregistered", lambda: any(
                        e.get("event") == "deregistered" and ue1["impi"] in e.get("text", "")
                        for e in lab.scscf_events)),
                    "the S-CSCF de-registered UE1; Kamailio removed the SAs once its 200 OK had left")
    sent0 = lab.stats(ue1["d"])["keepalives_sent"]
    time.sleep(2.5 * t.keepalive)
    story.check(lab.stats(ue1["d"])["keepalives_sent"] == sent0,
                f"UE1 sent no keepalive in {2.5 * t.keepalive:.0f} s")
    message(lab, story, ue2, what="UE2 unaffected: MESSAGE to UE2 still arrives")


def step_refusals(lab, story, ue2):
    """Kamailio only: what TR 33.803 A.7.2 makes the P-CSCF refuse, shown
    with UE2 (the built-in simulator does the same; its lab does not show it)."""
    story.step("7a", "Kamailio refuses what TR 33.803 A.7.2 refuses")
    a, b = UE2_RETRY_PORTS
    ue2["sim"].command(f"ports {a} {b}")
    ue2["sim"].command("offer trans")
    pc0, sc0 = len(lab.pc_events), len(lab.scscf_events)
    ok, err = ue2["sim"].command("register")
    ue2["sim"].command("offer all")
    story.check(not ok and "no answer" in err and
                lab.wait_for("discarded", lambda: any(e.get("event") == "discarded"
                                                      for e in lab.pc_events[pc0:])) and
                not any(e.get("event") == "challenge" for e in lab.scscf_events[sc0:]),
                "behind the NAT, a Security-Client without UDP-enc-tun: SM1 silently discarded "
                "(no answer, nothing asked of the S-CSCF)", err or "it was answered")
    old = lab.pc_reqid.get(ue2["impi"])
    ok, err = ue2["sim"].command("sm1")
    reqid = lab.new_pc_reqid(ue2["impi"], old)
    story.check(ok and reqid is not None and lab.reg(reqid) is not None,
                f"SM1 offering UDP-enc-tun: challenged, SAs of reqid {reqid} installed", err)
    lab.collect_keys()
    ok, err = ue2["sim"].command("sm7 tamper")
    story.check(not ok and "403" in err and "Security-Verify" in err,
                "SM7 whose Security-Verify is not the Security-Server sent: 403 Forbidden",
                err or "it was accepted")
    story.check(lab.wait_for("gone", lambda: lab.reg(reqid) is None),
                f"the registration aborted: Kamailio removed the SAs of reqid {reqid}")
    story.check(lab.stats(ue2["d"])["sas"] == 0, "UE2's espnatd holds no SAs")


def step_expiry(lab, story, ue2, old_reqid):
    """Kamailio only: the S-CSCF grants a short registration; when it ends,
    Kamailio removes its SAs from espnatd by itself."""
    story.step("11a", "Kamailio: a registration that expires takes its SAs along")
    grant = 2
    ok, err = lab.scscf.command(f"expires {grant}")
    ok, err = ue2["sim"].command("reregister") if ok else (ok, err)
    story.check(ok, f"UE2 re-registered over its SAs; the S-CSCF granted {grant} s", err)
    reqid = lab.new_pc_reqid(ue2["impi"], old_reqid)
    story.check(reqid != old_reqid and lab.reg(old_reqid) is None and lab.reg(reqid) is not None,
                f"P-CSCF: reqid {old_reqid} replaced by {reqid}")
    lab.collect_keys()
    gone = lab.wait_for("expired", lambda: lab.reg(reqid) is None and any(
        e.get("event") == "expired" and e.get("reqid") == reqid for e in lab.pc_events),
        timeout=grant + 1 + 4)
    story.check(gone,
                f"{grant} s (+ EXPIRY_MARGIN 1 s) later Kamailio removed the SAs of reqid {reqid}")


def run_scenario(lab, story):
    ue1, ue2 = UES
    reqid2 = None
    reqid = step_register_first(lab, story, ue1)
    port = step_sm7(lab, story, ue1, reqid)
    story.step(3, "The P-CSCF reaches UE1: a protected MESSAGE to its server port")
    message(lab, story, ue1)
    story.show(lab.stats(lab.pcd)["text"])
    step_keepalives_hold(lab, story, ue1, port)
    step_control(lab, story, ue1)
    port = step_rebind(lab, story, ue1, reqid, port)
    reqid2 = step_second_ue(lab, story, ue1, ue2, port)
    reqid = step_reregister(lab, story, ue1, reqid, port)
    step_deregister(lab, story, ue1, ue2, reqid)
    if lab.kind == "kamailio":
        step_expiry(lab, story, ue2, reqid2)
        errors = lab.kam.errors()
        story.check(not errors, "Kamailio logged no error", " / ".join(errors[:3]), fatal=False)
    story.step("", "Counters")
    for name, d in (("P-CSCF", lab.pcd), ("UE1", ue1["d"]), ("UE2", ue2["d"])):
        story.say(f"   espnatd of {name}:")
        story.show(lab.stats(d)["text"])
