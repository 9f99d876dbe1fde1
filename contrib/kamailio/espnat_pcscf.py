"""espnat P-CSCF: the routing logic of espnat-pcscf.cfg, for Kamailio's
app_python3 (KEMI), with espnatd doing all ESP beside Kamailio.

It follows TS 33.203 7.1-7.4 and TR 33.803 Annex D (A.7.1, A.7.2, A.7.4.2a):
NAT detection from the Via, the algorithm choice, the SA_table rules, the
four SAs installed in espnatd (`reg add` over its control socket) with the
UE's NAT port left for espnatd to learn from SM7, SM7's checks,
re-registration and de-registration. Every setting comes from the defines
of espnat-pcscf.cfg (KSR.kx.get_def).

Kamailio runs this in several processes (one set per listening socket, the
timer); what they share, the SA table, is an SQLite file (ESPNAT_STATE).

Each step is logged as one line `espnat-pcscf: {json}` (event, text and
facts, never a key), which the NAT lab reads.
"""
import ipaddress
import json
import os
import re
import secrets
import socket
import sqlite3
import time
import traceback

import KSR

EVENT_PREFIX = "espnat-pcscf: "


# ---- settings: the defines of espnat-pcscf.cfg ----

def define(name, default=None):
    v = KSR.kx.get_def(name)
    if v is None or v == "":
        return default
    v = str(v).strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        v = v[1:-1]
    return v


ALG_NAMES = ("hmac-md5-96", "hmac-sha-1-96")
EALG_NAMES = ("des-ede3-cbc", "aes-cbc", "null")


class Settings:
    def __init__(self):
        self.access_ip = define("ACCESS_IP")
        self.access_port = int(define("ACCESS_PORT", "5060"))
        self.port_ps = int(define("PORT_PS"))
        self.pc_pool = []
        for i in range(1, 17):
            v = define(f"PORT_PC{i}")
            if v:
                self.pc_pool.append(int(v))
        self.core_ip = define("CORE_IP")
        self.core_port = int(define("CORE_PORT", "5060"))
        self.registrar = define("REGISTRAR")
        self.control = define("ESPNAT_CONTROL", "/run/espnatd.sock")
        self.state = define("ESPNAT_STATE", "/var/lib/kamailio/espnat-pcscf.db")
        self.sa_lifetime = int(define("SA_LIFETIME", "604830"))
        self.challenge_timeout = int(define("CHALLENGE_TIMEOUT", "64"))
        self.expiry_margin = int(define("EXPIRY_MARGIN", "30"))
        self.term_timeout_ms = int(define("TERM_TIMEOUT_MS", "8000"))
        self.prefs = []
        for pair in define("ALGORITHMS", "hmac-sha-1-96/aes-cbc").split():
            alg, _, ealg = pair.lower().partition("/")
            if alg not in ALG_NAMES or ealg not in EALG_NAMES:
                raise ValueError(f"ALGORITHMS: '{pair}' is not alg/ealg of TS 33.203 Annex H")
            self.prefs.append((alg, ealg))
        missing = [n for n, v in (("ACCESS_IP", self.access_ip), ("CORE_IP", self.core_ip),
                                  ("REGISTRAR", self.registrar)) if not v]
        if missing or not self.pc_pool or not self.prefs:
            raise ValueError(f"espnat-pcscf.cfg: set {', '.join(missing) or 'PORT_PC1 and ALGORITHMS'}")
        self.core_socket = f"udp:{self.core_ip}:{self.core_port}"
        self.path = f"<sip:term@{self.core_ip}:{self.core_port};lr>"


# ---- sec-agree headers (RFC 3329; TS 33.203 Annex H; TR 33.803 B.3.3) ----
# The same reading as the project's nat/secagree.c: what SM7 repeats is
# compared parameter by parameter, not as text.

TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
MODS = {"trans": 1, "tun": 2, "udp-enc-tun": 4, "udp-enc-trans": 8}
MOD_TRANS, MOD_UDP_ENC_TUN = 1, 4
UNSUPPORTED = "?"


class SecAgreeError(ValueError):
    pass


class Mech:
    def __init__(self, name):
        self.name = name
        self.ipsec = name.lower() == "ipsec-3gpp"
        self.q = None                # thousandths
        self.alg = self.ealg = None  # Annex H names, UNSUPPORTED, or None (absent)
        self.prot = None             # "esp", "ah" or None
        self.mods = 0
        self.spi_c = self.spi_s = self.port_c = self.port_s = None
        self.extra = []              # (lower-case name, value as written or None)

    def key(self):
        return (self.name.lower(), self.q, self.alg, self.ealg, self.prot, self.mods,
                self.spi_c, self.spi_s, self.port_c, self.port_s)


def _qvalue(v):
    m = re.fullmatch(r"([01])(?:\.(\d{0,3}))?", v)
    if not m:
        raise SecAgreeError(f"q '{v}' is not a qvalue")
    milli = int(m.group(1)) * 1000 + int((m.group(2) or "").ljust(3, "0"))
    if milli > 1000:
        raise SecAgreeError(f"q '{v}' is above 1")
    return milli


def _number(v, top, what):
    if not v.isdigit() or not 0 < int(v) <= top:
        raise SecAgreeError(f"{what} '{v}' is out of range")
    return int(v)


class _Scanner:
    def __init__(self, s):
        self.s, self.i = s, 0

    def sws(self):
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t":
                self.i += 1
            elif self.s.startswith("\r\n", self.i) and self.s[self.i + 2:self.i + 3] in (" ", "\t"):
                self.i += 2
            else:
                return

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def token(self):
        m = TOKEN.match(self.s, self.i)
        if not m:
            return ""
        self.i = m.end()
        return m.group(0)

    def value(self):
        c = self.peek()
        if c == '"':
            j = self.i + 1
            while j < len(self.s) and self.s[j] != '"':
                if ord(self.s[j]) < 0x20 and self.s[j] not in "\t\r\n":
                    raise SecAgreeError("control character in a quoted string")
                j += 2 if self.s[j] == "\\" else 1
            if j >= len(self.s):
                raise SecAgreeError("unterminated quoted string")
            v, self.i = self.s[self.i:j + 1].replace("\r\n", ""), j + 1
            return v
        if c == "[":
            m = re.compile(r"\[[0-9A-Fa-f:.]+\]").match(self.s, self.i)
            if not m:
                raise SecAgreeError("bad IPv6 reference")
            self.i = m.end()
            return m.group(0)
        return self.token()


def _param(m, name, v):
    low = name.lower()
    known = ("q", "alg", "ealg", "prot", "mod", "spi-c", "spi-s", "port-c", "port-s")
    if low not in known or (low != "q" and not m.ipsec):
        m.extra.append((low, v))
        return
    if v is None:
        raise SecAgreeError(f"{low} has no value")
    if low == "q":
        if m.q is not None:
            raise SecAgreeError("q given twice")
        m.q = _qvalue(v)
    elif low in ("alg", "ealg"):
        if getattr(m, low) is not None:
            raise SecAgreeError(f"{low} given twice")
        names = ALG_NAMES if low == "alg" else EALG_NAMES
        if v.lower() in names:
            setattr(m, low, v.lower())
        else:       # a later release's: kept, never chosen
            setattr(m, low, UNSUPPORTED)
            m.extra.append((low, v))
    elif low == "prot":
        if m.prot is not None:
            raise SecAgreeError("prot given twice")
        if v.lower() not in ("esp", "ah"):
            raise SecAgreeError(f"prot '{v}' is not esp or ah")
        m.prot = v.lower()
    elif low == "mod":
        if v.lower() not in MODS:
            raise SecAgreeError(f"mod '{v}' is unknown")
        m.mods |= MODS[v.lower()]
    else:
        attr = low.replace("-", "_")
        if getattr(m, attr) is not None:
            raise SecAgreeError(f"{low} given twice")
        setattr(m, attr, _number(v, 0xFFFFFFFF if low.startswith("spi") else 65535, low))


def secagree_parse(value):
    """A Security-Client/-Server/-Verify value (several header lines joined
    with commas) as a list of Mech; SecAgreeError when malformed."""
    if value is None:
        raise SecAgreeError("missing")
    sc, mechs = _Scanner(value), []
    sc.sws()
    if not sc.peek():
        raise SecAgreeError("empty header value")
    while True:
        if len(mechs) == 8:
            raise SecAgreeError("too many mechanisms")
        sc.sws()
        name = sc.token()
        if not name:
            raise SecAgreeError("a mechanism name expected")
        m = Mech(name)
        while True:
            sc.sws()
            if sc.peek() != ";":
                break
            sc.i += 1
            sc.sws()
            pname = sc.token()
            if not pname:
                raise SecAgreeError("a parameter name expected after ';'")
            sc.sws()
            v = None
            if sc.peek() == "=":
                sc.i += 1
                sc.sws()
                v = sc.value()
                if not v:
                    raise SecAgreeError(f"{pname} has an empty value")
            _param(m, pname, v)
        mechs.append(m)
        sc.sws()
        if not sc.peek():
            return mechs
        if sc.peek() != ",":
            raise SecAgreeError(f"';', ',' or the end expected at offset {sc.i}")
        sc.i += 1


def _extra_equal(a, b):
    if a[0] != b[0] or (a[1] is None) != (b[1] is None):
        return False
    if a[1] is None:
        return True
    if a[1].startswith('"') or b[1].startswith('"'):
        return a[1] == b[1]
    return a[1].lower() == b[1].lower()


def secagree_equal(a, b):
    """The same mechanisms in the same order, each with the same parameters
    (names and tokens case-insensitively, q numerically, extras in any
    order): what TS 33.203 7.2 asks of SM7's copies."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.key() != y.key() or len(x.extra) != len(y.extra):
            return False
        left = list(y.extra)
        for e in x.extra:
            hit = next((k for k, f in enumerate(left) if _extra_equal(e, f)), None)
            if hit is None:
                return False
            left.pop(hit)
    return True


class NoUdpEncTun(Exception):
    pass


def secagree_choose(client, prefs, nat):
    """The first pair of the P-CSCF's own list that the UE offered in an
    ipsec-3gpp ESP mechanism (absent ealg: null), in the mode the path
    needs: UDP-enc-tun behind a NAT, trans otherwise (absent mod: trans).
    Returns (index in client, alg, ealg, mode) or None; NoUdpEncTun when
    behind a NAT and no mechanism offers UDP-enc-tun (TR 33.803 A.7.2)."""
    bit = MOD_UDP_ENC_TUN if nat else MOD_TRANS
    if nat and not any(m.ipsec and m.mods & MOD_UDP_ENC_TUN for m in client):
        raise NoUdpEncTun()
    for alg, ealg in prefs:
        for j, m in enumerate(client):
            if (m.ipsec and m.prot != "ah" and m.alg == alg and (m.ealg or "null") == ealg
                    and (m.mods or MOD_TRANS) & bit):
                return j, alg, ealg, "UDP-enc-tun" if nat else "trans"
    return None


def _q_text(milli):
    if milli % 1000 == 0:
        return str(milli // 1000)
    return f"{milli // 1000}.{milli % 1000:03d}".rstrip("0")


def secagree_server(prefs, spi_c, spi_s, port_c, port_s, mode):
    """The P-CSCF's Security-Server: one ipsec-3gpp mechanism per pair of
    its list, q falling from (n-i)/(n+1), the same SPIs and ports in each."""
    n, out = len(prefs), []
    for i, (alg, ealg) in enumerate(prefs):
        q = ((n - i) * 1000 + (n + 1) // 2) // (n + 1)
        out.append(f"ipsec-3gpp;q={_q_text(q)};alg={alg};ealg={ealg};prot=esp;mod={mode};"
                   f"spi-c={spi_c};spi-s={spi_s};port-c={port_c};port-s={port_s}")
    return ", ".join(out)


# ---- other header pieces ----

VIA_SENT_BY = re.compile(r"\s*SIP\s*/\s*2\.0\s*/\s*[A-Za-z]+\s+(\[[0-9A-Fa-f:.]+\]|[^\s:;,]+)"
                         r"(?:\s*:\s*(\d+))?")


def via_sent_by(via):
    """(host, port or None) of the first via-parm of a Via value."""
    m = VIA_SENT_BY.match(via or "")
    if not m:
        return None, None
    return m.group(1).strip("[]"), int(m.group(2)) if m.group(2) else None


def same_address(host, addr):
    """Whether a Via host names @addr; a host name never does here (A.7.1
    rule 2 would have it resolved: this P-CSCF does no DNS)."""
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(addr)
    except ValueError:
        return False


DIGEST_PARAM = re.compile(r'\s*([A-Za-z0-9\-_.]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*(,|$)')


def digest_params(value):
    """[(name, value as written)] of `Digest a="x", b=y`, or None."""
    m = re.match(r"\s*Digest\s+", value or "", re.I)
    if not m:
        return None
    out, i = [], m.end()
    while i < len(value):
        p = DIGEST_PARAM.match(value, i)
        if not p:
            return None
        out.append((p.group(1), p.group(2)))
        i = p.end()
    return out


def unquote(v):
    return v[1:-1] if v and len(v) >= 2 and v[0] == '"' and v[-1] == '"' else v


def digest_get(params, name):
    for k, v in params or []:
        if k.lower() == name:
            return unquote(v)
    return None


def digest_text(params):
    return "Digest " + ",".join(f"{k}={v}" for k, v in params)


def uri_of(value):
    """The URI of a name-addr (between < and >) or of an addr-spec."""
    if not value:
        return ""
    m = re.search(r"<([^>]*)>", value)
    return (m.group(1) if m else value.split(";")[0]).strip()


def uri_user_host(uri):
    """'sip:alice@ims.lab;x' -> 'alice@ims.lab' (the lab's IMPI form)."""
    u = re.sub(r"^sips?:", "", uri or "", flags=re.I)
    return u.split(";")[0].split("?")[0]


def uri_host_port(uri):
    m = re.match(r"sips?:(?:[^@;>]*@)?(\[[0-9A-Fa-f:.]+\]|[^:;>?]+)(?::(\d+))?", uri or "", re.I)
    if not m:
        return None, None
    return m.group(1).strip("[]"), int(m.group(2)) if m.group(2) else 5060


# ---- espnatd's control socket ----

class EspnatdError(Exception):
    pass


def espnatd(path, request, timeout=3.0):
    """One request line, one JSON answer line. The request may hold keys:
    it goes over the socket only, never into a log or a command line."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(request.encode() + b"\n")
        buf = b""
        while b"\n" not in buf and len(buf) < 1 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        raise EspnatdError(f"espnatd at {path}: {e.strerror or e}")
    finally:
        s.close()
    try:
        answer = json.loads(buf.split(b"\n", 1)[0])
    except ValueError:
        raise EspnatdError(f"espnatd at {path}: no answer")
    if not answer.get("ok"):
        raise EspnatdError(answer.get("error", "refused"))
    return answer


# ---- the SA table (TR 33.803 A.7.1 rule 1), shared by the processes ----

SCHEMA = """
CREATE TABLE IF NOT EXISTS reg (
    reqid INTEGER PRIMARY KEY,      -- espnatd's registration (four SAs)
    impi TEXT NOT NULL,
    impus TEXT NOT NULL,            -- JSON list: SM1's To, then P-Associated-URI
    ue TEXT NOT NULL,               -- the UE's (public) address: SM1's source
    nat INTEGER NOT NULL,
    port_uc INTEGER NOT NULL, port_us INTEGER NOT NULL,
    port_pc INTEGER NOT NULL, port_ps INTEGER NOT NULL,
    spi_uc INTEGER NOT NULL, spi_us INTEGER NOT NULL,
    spi_pc INTEGER NOT NULL, spi_ps INTEGER NOT NULL,
    client TEXT NOT NULL,           -- SM1's Security-Client
    server TEXT NOT NULL,           -- the Security-Server sent
    state TEXT NOT NULL,            -- challenged, registered, closing
    replaces INTEGER,               -- re-registration: the reqid in force
    created REAL NOT NULL,
    expires REAL NOT NULL,          -- challenged: CHALLENGE_TIMEOUT; registered: + margin
    delete_at REAL                  -- closing: when its SAs go
);
CREATE INDEX IF NOT EXISTS reg_ue ON reg (ue, port_uc);
CREATE TABLE IF NOT EXISTS pending (
    key TEXT PRIMARY KEY,           -- Call-ID and CSeq of a REGISTER sent on
    kind TEXT NOT NULL,             -- sm1, sm7, dereg
    data TEXT NOT NULL,             -- JSON
    created REAL NOT NULL
);
"""

COLUMNS = ("reqid", "impi", "impus", "ue", "nat", "port_uc", "port_us", "port_pc", "port_ps",
           "spi_uc", "spi_us", "spi_pc", "spi_ps", "client", "server", "state", "replaces",
           "created", "expires", "delete_at")


class Table:
    def __init__(self, path):
        self.path, self.pid, self.db = path, None, None

    def conn(self):
        # one connection per process, opened after Kamailio forked
        if self.pid != os.getpid():
            self.db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.pid = os.getpid()
        return self.db

    def create(self):
        d = self.path and os.path.dirname(self.path)
        if d and not os.path.isdir(d):
            os.makedirs(d, mode=0o750, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        db.executescript(SCHEMA)
        db.close()
        os.chmod(self.path, 0o600)

    def begin(self):
        self.conn().execute("BEGIN IMMEDIATE")

    def commit(self):
        self.conn().execute("COMMIT")

    def rollback(self):
        try:
            self.conn().execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def rows(self, where, *args):
        return [dict(r) for r in self.conn().execute(f"SELECT * FROM reg WHERE {where}", args)]

    def one(self, where, *args):
        r = self.rows(where, *args)
        return r[0] if r else None

    def insert(self, r):
        cols = [c for c in COLUMNS if c in r]
        self.conn().execute(f"INSERT INTO reg ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                            [r[c] for c in cols])

    def update(self, reqid, **kv):
        self.conn().execute(f"UPDATE reg SET {','.join(k + '=?' for k in kv)} WHERE reqid=?",
                            [*kv.values(), reqid])

    def delete(self, reqid):
        self.conn().execute("DELETE FROM reg WHERE reqid=?", (reqid,))

    def put_pending(self, key, kind, data):
        self.conn().execute("INSERT OR REPLACE INTO pending VALUES (?,?,?,?)",
                            (key, kind, json.dumps(data), time.time()))

    def get_pending(self, key):
        r = self.conn().execute("SELECT kind, data FROM pending WHERE key=?", (key,)).fetchone()
        return (r[0], json.loads(r[1])) if r else (None, None)

    def drop_pending(self, key):
        self.conn().execute("DELETE FROM pending WHERE key=?", (key,))


# ---- Kamailio's side ----

def pv(name):
    return KSR.pv.get(name)


def hdr(name):
    """All the header lines called @name, joined with commas (RFC 3261
    7.3.1), or None."""
    if KSR.hdr.is_present(name) <= 0:
        return None
    return pv(f"$(hdr({name})[*])")


def event(kind, text, **facts):
    KSR.info(EVENT_PREFIX + json.dumps(dict(event=kind, text=text, **facts)) + "\n")


class Refuse(Exception):
    """Answer the request with 403 and this Warning (TS 33.203 7.1, TR 33.803 A.7.1)."""

    def __init__(self, warning, status=403, reason="Forbidden"):
        super().__init__(warning)
        self.warning, self.status, self.reason = warning, status, reason


class Discard(Exception):
    """Drop the request silently (A.7.1 rule 4, A.7.2 without UDP-enc-tun)."""


def mod_init():
    handler = PCSCF()
    handler.table.create()
    return handler


class PCSCF:
    def __init__(self):
        self.cfg = Settings()
        self.table = Table(self.cfg.state)
        self.refusals = {}      # pending key -> reason (onreply -> failure route)
        self.last_check = 0.0
        self.orphans = set()    # espnatd registrations not in the table, reported once

    def child_init(self, rank):
        if rank > 0:    # a SIP worker: Kamailio answers from here on
            event("ready", f"worker {rank} (pid {os.getpid()}) ready", rank=rank)
        return 0

    # ---- helpers ----

    def key(self):
        return f"{pv('$ci')}|{pv('$cs')}"

    def warn(self, warning):
        KSR.hdr.append_to_reply(f'Warning: 399 {self.cfg.access_ip} "{warning}"\r\n')

    def reply(self, status, reason, warning=None):
        if warning:
            self.warn(warning)
        KSR.sl.send_reply(status, reason)

    def ctl(self, request):
        return espnatd(self.cfg.control, request)

    def remove_sas(self, reqid, why):
        try:
            self.ctl(f"reg del reqid {reqid}")
        except EspnatdError as e:
            if "no registration" not in str(e):
                KSR.err(f"espnat-pcscf: removing reqid {reqid}: {e}\n")
        event("removed", f"the SAs of reqid {reqid} removed: {why}", reqid=reqid, why=why)

    def impi_of(self):
        auth = digest_params(pv("$hdr(Authorization)"))
        impi = digest_get(auth, "username")
        return impi or uri_user_host(uri_of(pv("$hdr(To)")))

    def strip_for_core(self, integrity):
        """What the S-CSCF must not see, and what it must (TS 24.229 5.2.2):
        sec-agree out; the Authorization marked integrity-protected; Path."""
        KSR.hdr.remove("Security-Client")
        KSR.hdr.remove("Security-Verify")
        for name in ("Require", "Proxy-Require"):
            v = hdr(name)
            if v is None:
                continue
            rest = [t.strip() for t in v.split(",") if t.strip() and t.strip().lower() != "sec-agree"]
            KSR.hdr.remove(name)
            if rest:
                KSR.hdr.append(f"{name}: {', '.join(rest)}\r\n")
        auth = pv("$hdr(Authorization)")
        params = digest_params(auth)
        if params is not None:
            # a UE's own integrity-protected is never believed
            params = [(k, v) for k, v in params if k.lower() != "integrity-protected"]
            params.append(("integrity-protected", f'"{integrity}"'))
            KSR.hdr.remove("Authorization")
            KSR.hdr.append(f"Authorization: {digest_text(params)}\r\n")

    def relay_to_core(self, register):
        KSR.pv.sets("$du", self.cfg.registrar)
        KSR.pv.sets("$fs", self.cfg.core_socket)
        if register:
            KSR.hdr.append(f"Path: {self.cfg.path}\r\n")
            KSR.tm.t_on_reply("ksr_onreply_register")
            KSR.tm.t_on_failure("ksr_failure_register")
        if KSR.tm.t_relay() < 0:
            KSR.sl.send_reply(500, "Server Error")

    # app_python3 looks these up for every message it sends or every reply
    # it receives; when they are missing it leaves a Python error behind
    def ksr_onsend_route(self, msg):
        return 1

    def ksr_reply_route(self, msg):
        return 1

    # ---- requests ----

    def ksr_request_route(self, msg):
        try:
            self.request()
        except Refuse as r:
            self.reply(r.status, r.reason, r.warning)
            event("refused", f"{pv('$rm')} from {pv('$si')}:{pv('$sp')} refused: "
                  f"{r.status} {r.warning}", status=r.status, warning=r.warning)
        except Discard as d:
            event("discarded", f"{pv('$rm')} from {pv('$si')}:{pv('$sp')} discarded: {d}")
        except Exception:
            KSR.err("espnat-pcscf: " + traceback.format_exc().replace("\n", " | ") + "\n")
            if pv("$rm") != "ACK":
                KSR.sl.send_reply(500, "Server Internal Error")
        return 1

    def request(self):
        method = pv("$rm")
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.send_reply(483, "Too Many Hops")
            return
        # retransmissions: absorbed by the transaction
        if method == "CANCEL":
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        if method != "ACK":
            if KSR.tmx.t_precheck_trans() > 0:
                KSR.tm.t_check_trans()
                return
            if KSR.tm.t_check_trans() == 0:
                return
        rip, rport = pv("$Ri"), int(pv("$Rp"))
        if rip == self.cfg.core_ip and rport == self.cfg.core_port:
            self.from_core(method)
        elif rip != self.cfg.access_ip:
            raise Discard(f"arrived on {rip}:{rport}, neither ACCESS_IP nor the core socket")
        elif rport == self.cfg.access_port:
            # A.7.1 rule 3: nothing but REGISTER on an unprotected port
            if method == "ACK":
                return
            if method != "REGISTER":
                raise Refuse("only REGISTER is accepted unprotected (TR 33.803 A.7.1 rule 3)")
            self.sm1(None)
        elif rport == self.cfg.port_ps:
            self.protected(method)
        else:
            # the protected client ports receive answers only
            raise Discard(f"a request on protected client port {rport}")

    def protected(self, method):
        """Arrived on the protected server port: espnatd delivers nothing
        there that an inbound SA did not verify. Which SA: (UE address, UE
        port) of the SA table (A.7.1 rule 4)."""
        si, sp = pv("$si"), int(pv("$sp"))
        reg = self.table.one("ue=? AND port_uc=? AND state IN ('challenged','registered')", si, sp)
        if not reg:
            raise Discard(f"no SA in the table for {si}:{sp}")
        # responses go back to where the request came from: the UE's
        # protected client port (its Via names its server port)
        KSR.force_rport()
        if method == "REGISTER":
            if reg["state"] == "challenged":
                return self.sm7(reg)
            if self.expires_requested() == 0:
                return self.deregister(reg)
            return self.sm1(reg)
        if reg["state"] != "registered":
            raise Discard("a request over SAs whose registration is not complete")
        if method == "ACK":
            KSR.tm.t_relay()
            return
        impu = uri_of(pv("$hdr(From)"))
        if impu not in json.loads(reg["impus"]):
            raise Discard(f"From {impu} is not an IMPU of the SA's registration (A.7.1 rule 4)")
        self.relay_to_core(register=False)

    def expires_requested(self):
        """0 for a de-registration (a Contact's expires=0, or Expires: 0);
        None for a REGISTER without Contact (a query of the bindings)."""
        contact, exp = pv("$(hdr(Contact)[*])"), pv("$hdr(Expires)")
        if not contact:
            return None
        m = re.search(r";\s*expires\s*=\s*(\d+)", contact, re.I)
        if m:
            return int(m.group(1))
        if exp is not None and str(exp).strip().isdigit():
            return int(exp)
        return None

    def sm1(self, in_force):
        """SM1, unprotected (in_force None) or over the SAs in force: NAT
        detection, the choice, A.7.1 rule 3, then on to the registrar."""
        si = pv("$si")
        impi = self.impi_of()
        impu = uri_of(pv("$hdr(To)"))
        via = pv("$hdr(Via)")
        host, _ = via_sent_by(via)
        if not host:
            raise Refuse("malformed Via", 400, "Bad Request")
        if in_force:
            if impu not in json.loads(in_force["impus"]):
                raise Refuse(f"To {impu} is not an IMPU of the SAs in force (A.7.1 rule 4)")
            # over SAs in force: the new ones take their mode (A.7.4.2a)
            nat = bool(in_force["nat"])
        else:
            nat = not same_address(host, si)
            # received and rport go into the Via and the answers go back to
            # the packet's source, through the NAT's binding; the 401 tells
            # the UE its public address (TR 33.803 B.3.2, B.3.3)
            KSR.force_rport()
            event("nat", f"Via {host}, packet from {si}: behind a NAT, received added" if nat
                  else f"Via {host} matches the source {si}: no NAT", nat=nat, via=host, source=si)
        client_text = hdr("Security-Client")
        try:
            client = secagree_parse(client_text)
        except SecAgreeError as e:
            raise Refuse(f"Security-Client: {e}", 400, "Bad Request")
        try:
            pick = secagree_choose(client, self.cfg.prefs, nat)
        except NoUdpEncTun:
            raise Discard("behind a NAT but no UDP-enc-tun offered (TR 33.803 A.7.2)")
        if pick is None:
            raise Refuse("no acceptable mechanism", 494, "Security Agreement Required")
        j, alg, ealg, mode = pick
        cm = client[j]
        if not (cm.spi_c and cm.spi_s and cm.port_c and cm.port_s):
            raise Refuse("the chosen mechanism lacks spi-c, spi-s, port-c or port-s", 400, "Bad Request")
        why = self.check_rules(impi, si, cm.port_c, cm.port_s, nat)
        if why:
            raise Refuse(why)
        self.table.put_pending(self.key(), "sm1", dict(
            impi=impi, impu=impu, ue=si, nat=nat, client=client_text, alg=alg, ealg=ealg,
            mode=mode, spi_uc=cm.spi_c, spi_us=cm.spi_s, port_uc=cm.port_c, port_us=cm.port_s,
            replaces=in_force["reqid"] if in_force else None))
        self.strip_for_core("yes" if in_force else "no")
        self.relay_to_core(register=True)

    def check_rules(self, impi, ue, port_uc, port_us, nat):
        """TR 33.803 A.7.1 rule 3: (UE address, protected client port) must
        be free, and behind a NAT (UE address, client port, server port) too,
        where a NAT's UEs share the address; at most six SAs per direction
        for one IMPI (each registration is two per direction)."""
        mine = 0
        for r in self.table.rows("state IN ('challenged','registered')"):
            if r["impi"].lower() == impi.lower():
                # an unfinished one of this IMPI is superseded, not counted
                if r["state"] == "registered":
                    mine += 2
                continue
            if r["ue"] != ue:
                continue
            if r["port_uc"] == port_uc:
                return "the UE address and protected client port are in use (TS 33.203 7.1)"
            if nat and r["port_us"] == port_us:
                return "behind this NAT another UE uses these protected ports (TR 33.803 A.7.1)"
        if mine + 2 > 6:
            return "more than six SAs per direction for this IMPI (TR 33.803 A.7.1)"
        return None

    def sm7(self, reg):
        """SM7 over the new SAs: A.7.1 rule 2, Security-Verify against the
        Security-Server sent, Security-Client against SM1's (7.2, A.7.2).
        When a check fails the registration is aborted: the 403 goes over
        the new SAs, which then go (A.7.3.2.3, A.7.4.2a)."""
        try:
            self.check_sm7(reg)
        except Refuse as r:
            self.close(reg["reqid"], f"SM7 refused: {r.warning}")
            raise
        event("verified", "SM7: Via, Security-Verify and Security-Client check out; "
              "on to the registrar, integrity-protected", reqid=reg["reqid"])
        self.table.put_pending(self.key(), "sm7", dict(reqid=reg["reqid"]))
        self.strip_for_core("yes")
        self.relay_to_core(register=True)

    def check_sm7(self, reg):
        si = pv("$si")
        host, _ = via_sent_by(pv("$hdr(Via)"))
        if not host or not same_address(host, si):
            raise Refuse("Via does not name the source address")
        try:
            ok = secagree_equal(secagree_parse(hdr("Security-Verify")), secagree_parse(reg["server"]))
        except SecAgreeError:
            ok = False
        if not ok:
            raise Refuse("Security-Verify differs from the Security-Server sent")
        try:
            ok = secagree_equal(secagree_parse(hdr("Security-Client")), secagree_parse(reg["client"]))
        except SecAgreeError:
            ok = False
        if not ok:
            raise Refuse("Security-Client differs from SM1's")
        impu = uri_of(pv("$hdr(To)"))
        if impu not in json.loads(reg["impus"]):
            raise Refuse(f"To {impu} is not the IMPU SM1 registered (A.7.1 rule 4)")

    def deregister(self, reg):
        impu = uri_of(pv("$hdr(To)"))
        if impu not in json.loads(reg["impus"]):
            raise Discard(f"To {impu} is not an IMPU of the SA's registration (A.7.1 rule 4)")
        self.table.put_pending(self.key(), "dereg", dict(reqid=reg["reqid"]))
        self.strip_for_core("yes")
        self.relay_to_core(register=True)

    def from_core(self, method):
        """A request toward a UE: to its protected server port, from the
        registration's protected client port (A.7.1 ports, UDP case)."""
        KSR.rr.loose_route()
        if method == "ACK":
            KSR.tm.t_relay()
            return
        host, port = uri_host_port(pv("$ru"))
        reg = self.table.one("ue=? AND port_us=? AND state='registered' ORDER BY created DESC",
                             host or "", port or 0)
        if not reg:
            KSR.sl.send_reply(404, "Not Found")
            event("refused", f"{method} for {pv('$ru')}: no registration with that contact")
            return
        KSR.pv.sets("$du", f"sip:{reg['ue']}:{reg['port_us']}")
        KSR.pv.sets("$fs", f"udp:{self.cfg.access_ip}:{reg['port_pc']}")
        KSR.tm.t_set_fr(0, self.cfg.term_timeout_ms)
        event("toward-ue", f"{method} to {reg['ue']}:{reg['port_us']} from protected client "
              f"port {reg['port_pc']} (reqid {reg['reqid']})", reqid=reg["reqid"])
        if KSR.tm.t_relay() < 0:
            KSR.sl.send_reply(500, "Server Error")

    # ---- answers from the registrar ----

    def ksr_onreply_register(self, msg):
        try:
            self.onreply()
        except Exception:
            KSR.err("espnat-pcscf: " + traceback.format_exc().replace("\n", " | ") + "\n")
            self.refusals[self.key()] = "internal error"
        return 1

    def onreply(self):
        status = int(pv("$rs"))
        if status < 200:
            return
        key = self.key()
        kind, p = self.table.get_pending(key)
        if status == 401:
            # CK and IK never leave the P-CSCF, whatever happens next
            params = digest_params(pv("$hdr(WWW-Authenticate)"))
            keys = {k: digest_get(params, k) for k in ("ck", "ik")}
            if params is not None:
                KSR.hdr.remove("WWW-Authenticate")
                KSR.hdr.append("WWW-Authenticate: " + digest_text(
                    [(k, v) for k, v in params if k.lower() not in ("ck", "ik")]) + "\r\n")
            if kind == "sm1":
                self.challenge(key, p, keys)
            else:
                self.refusals[key] = "a challenge the P-CSCF did not ask for"
            keys.clear()
            return
        if kind == "sm7":
            self.table.drop_pending(key)
            if status == 200:
                self.registered(p["reqid"])
            elif status >= 300:
                # the new SAs carry the failure, then go (A.7.4.2a)
                self.close(p["reqid"], f"SM7 answered {status}")
        elif kind == "dereg":
            self.table.drop_pending(key)
            if status == 200:
                self.close(p["reqid"], "de-registered")
                event("deregistered", f"de-registration: the SAs of reqid {p['reqid']} go "
                      "once the 200 OK left over them", reqid=p["reqid"])
        elif kind == "sm1":
            self.table.drop_pending(key)

    def challenge(self, key, p, keys):
        """SM4 -> SM6: the SAs in espnatd, Security-Server added."""
        self.table.drop_pending(key)
        ck, ik = keys.get("ck"), keys.get("ik")
        if not (ck and ik and re.fullmatch(r"[0-9A-Fa-f]{32}", ck) and re.fullmatch(r"[0-9A-Fa-f]{32}", ik)):
            self.refusals[key] = "the S-CSCF gave no CK and IK"
            return
        cfg, t = self.cfg, self.table
        t.begin()
        try:
            # the state may have moved since SM1: the rules again
            why = self.check_rules(p["impi"], p["ue"], p["port_uc"], p["port_us"], p["nat"])
            if why:
                raise Refuse(why)
            mine = t.rows("lower(impi)=lower(?)", p["impi"])
            for r in mine:
                # an unfinished registration is superseded (A.7.4.2a); after an
                # unprotected SM1, SAs with the very same ports are the UE's past
                if r["state"] == "challenged" or (
                        p["replaces"] is None and r["ue"] == p["ue"] and
                        (r["port_uc"], r["port_us"]) == (p["port_uc"], p["port_us"])):
                    self.remove_sas(r["reqid"], "superseded by a new challenge")
                    t.delete(r["reqid"])
            used = {r["port_pc"] for r in t.rows("lower(impi)=lower(?)", p["impi"])}
            port_pc = next((x for x in cfg.pc_pool if x not in used), None)
            if port_pc is None:
                raise Refuse("no protected client port free for this IMPI")
            taken = {p["spi_uc"], p["spi_us"]}
            for r in t.rows("1"):
                taken |= {r["spi_pc"], r["spi_ps"]}
            server = reqid = None
            for attempt in range(3):
                spi_pc = spi_ps = 0
                while spi_pc in taken or spi_ps in taken or spi_pc == spi_ps:
                    spi_pc = 0x10000 + secrets.randbelow(0xFFFF0000 - 0x10000)
                    spi_ps = 0x10000 + secrets.randbelow(0xFFFF0000 - 0x10000)
                req = (f"reg add role pcscf ue {p['ue']} pcscf {cfg.access_ip} "
                       f"ue-spi-c {p['spi_uc']} ue-spi-s {p['spi_us']} "
                       f"ue-port-c {p['port_uc']} ue-port-s {p['port_us']} "
                       f"pcscf-spi-c {spi_pc} pcscf-spi-s {spi_ps} "
                       f"pcscf-port-c {port_pc} pcscf-port-s {cfg.port_ps} "
                       f"alg {p['alg']} ealg {p['ealg']} ik {ik} ck {ck} mod {p['mode']} "
                       f"lifetime {cfg.sa_lifetime}")
                try:
                    reqid = self.ctl(req)["reqid"]
                    break
                except EspnatdError as e:
                    # an SPI someone else holds: new ones; anything else: refused
                    if "spi" not in str(e).lower() or attempt == 2:
                        KSR.err(f"espnat-pcscf: reg add for {p['impi']}: {e}\n")
                        raise Refuse("the P-CSCF could not install the SAs")
                    taken |= {spi_pc, spi_ps}
                finally:
                    req = None
            server = secagree_server(cfg.prefs, spi_pc, spi_ps, port_pc, cfg.port_ps, p["mode"])
            now = time.time()
            t.insert(dict(reqid=reqid, impi=p["impi"], impus=json.dumps([p["impu"]]), ue=p["ue"],
                          nat=int(bool(p["nat"])), port_uc=p["port_uc"], port_us=p["port_us"],
                          port_pc=port_pc, port_ps=cfg.port_ps, spi_uc=p["spi_uc"],
                          spi_us=p["spi_us"], spi_pc=spi_pc, spi_ps=spi_ps, client=p["client"],
                          server=server, state="challenged", replaces=p["replaces"],
                          created=now, expires=now + cfg.challenge_timeout))
            t.commit()
        except Refuse as r:
            t.rollback()
            self.refusals[key] = r.warning
            return
        except Exception:
            t.rollback()
            raise
        KSR.hdr.append(f"Security-Server: {server}\r\n")
        event("sas", f"SAs of reqid {reqid} for {p['impi']} installed: {p['mode']}, {p['alg']}, "
              f"{p['ealg']}; the UE's NAT port left for espnatd to learn", reqid=reqid,
              impi=p["impi"], mode=p["mode"], alg=p["alg"], ealg=p["ealg"], ue=p["ue"],
              port_uc=p["port_uc"], port_us=p["port_us"], port_pc=port_pc, port_ps=cfg.port_ps)

    def registered(self, reqid):
        """SM12: the registration's lifetime from the 200 OK; a
        re-registration's old SAs go now (the new ones carried SM7 and carry
        this 200 OK, TS 33.203 7.3.3); after an unprotected SM1 the IMPI's
        other SAs are stale (A.7.4.2a)."""
        t = self.table
        reg = t.one("reqid=?", reqid)
        if not reg:
            return
        expires = self.granted_expires()
        impus = json.loads(reg["impus"])
        for u in (pv("$(hdr(P-Associated-URI)[*])") or "").split(","):
            u = uri_of(u)
            if u and u not in impus:
                impus.append(u)
        now = time.time()
        t.begin()
        try:
            t.update(reqid, state="registered", impus=json.dumps(impus),
                     expires=now + expires + self.cfg.expiry_margin)
            old = [r for r in t.rows("lower(impi)=lower(?) AND reqid!=? AND state='registered'",
                                     reg["impi"], reqid)]
            t.commit()
        except Exception:
            t.rollback()
            raise
        event("registered", f"200 OK: reqid {reqid} registered for {expires} s", reqid=reqid,
              impi=reg["impi"], expires=expires)
        for r in old:
            if reg["replaces"] == r["reqid"]:
                why = f"replaced by reqid {reqid}, whose SAs carried SM7 (TS 33.203 7.3.3)"
            else:
                why = f"stale after an unprotected registration (reqid {reqid})"
            self.remove_sas(r["reqid"], why)
            t.delete(r["reqid"])

    def granted_expires(self):
        """The expiry the registrar granted: the Contact's expires, else
        Expires, else an hour."""
        m = re.search(r";\s*expires\s*=\s*(\d+)", pv("$(hdr(Contact)[*])") or "", re.I)
        if m:
            return int(m.group(1))
        exp = pv("$hdr(Expires)")
        return int(exp) if exp and str(exp).strip().isdigit() else 3600

    def close(self, reqid, why):
        """The SAs still have to carry this answer: they go a moment later
        (the timer)."""
        self.table.update(reqid, state="closing", delete_at=time.time() + 0.5)
        event("closing", f"reqid {reqid}: {why}; its SAs go once the answer left over them",
              reqid=reqid)

    def ksr_failure_register(self, msg):
        try:
            why = self.refusals.pop(self.key(), None)
            if why:
                self.warn(why)
                KSR.tm.t_reply(403, "Forbidden")
                event("refused", f"403 Forbidden instead of the 401: {why}", status=403, warning=why)
        except Exception:
            KSR.err("espnat-pcscf: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

    # ---- the timer ----

    def ksr_espnat_timer(self, msg, evname=None):
        try:
            self.sweep()
        except Exception:
            KSR.err("espnat-pcscf: " + traceback.format_exc().replace("\n", " | ") + "\n")
        return 1

    def sweep(self):
        t, now = self.table, time.time()
        for r in t.rows("state='closing' AND delete_at<=?", now):
            self.remove_sas(r["reqid"], "its registration ended")
            t.delete(r["reqid"])
        for r in t.rows("state='challenged' AND expires<=?", now):
            self.remove_sas(r["reqid"], "no SM7 in time")
            t.delete(r["reqid"])
        for r in t.rows("state='registered' AND expires<=?", now):
            self.remove_sas(r["reqid"], "the registration expired")
            event("expired", f"the registration of reqid {r['reqid']} expired", reqid=r["reqid"])
            t.delete(r["reqid"])
        t.conn().execute("DELETE FROM pending WHERE created<?", (now - 64,))
        if now - self.last_check >= 10:
            self.last_check = now
            try:
                live = {r["reqid"] for r in self.ctl("reg list").get("registrations", [])}
            except EspnatdError as e:
                KSR.err(f"espnat-pcscf: {e}\n")
                return
            known = set()
            for r in t.rows("1"):
                known.add(r["reqid"])
                if r["reqid"] not in live and r["created"] < now - 5:
                    event("gone", f"espnatd no longer holds reqid {r['reqid']} (lifetime, restart "
                          "without state, or removed by hand): forgotten", reqid=r["reqid"])
                    t.delete(r["reqid"])
            for reqid in live - known - self.orphans:
                # not this P-CSCF's (another user of espnatd), or its table was lost
                event("orphan", f"espnatd holds reqid {reqid}, which this P-CSCF does not know; "
                      "left alone", reqid=reqid)
            self.orphans = live - known
