"""What the lab captured, as Wireshark sees it: the ESP keys written as
Wireshark's esp_sa table, the captures dissected by tshark with them, and
a ladder diagram (SVG) drawn from that dissection."""
import html
import os
import re
import subprocess

# Wireshark's names in the esp_sa table (packet-ipsec.c, 4.0)
WS_ENC = {"cbc(aes)": "AES-CBC [RFC3602]", "cbc(des3_ede)": "TripleDES-CBC [RFC2451]",
          "ecb(cipher_null)": "NULL"}
WS_AUTH = {"hmac(md5)": "HMAC-MD5-96 [RFC2403]", "hmac(sha1)": "HMAC-SHA-1-96 [RFC2404]",
           "digest_null": "NULL"}

FIELDS = ["frame.time_epoch", "ip.src", "ip.dst", "udp.srcport", "udp.dstport", "esp.spi",
          "esp.icv_good", "udpencap.nat_keepalive", "sip.Method", "sip.Status-Code",
          "sip.CSeq.method", "icmp.type", "icmp.code", "ip.flags.mf", "ip.frag_offset",
          "sip.auth.ck", "sip.auth.ik", "sip.Security-Server"]


def sa_line_to_uat(line):
    """One SA-file line (with keys) as an esp_sa row: any address, since the
    NAT rewrites them between the two captures."""
    spi = re.search(r"\bspi (0x[0-9a-f]+|\d+)", line)
    enc = re.search(r"\benc '([^']+)' (0x[0-9a-f]+|\"\")", line)
    auth = re.search(r"\bauth(?:-trunc)? '([^']+)' (0x[0-9a-f]+)", line)
    if not spi or not enc:
        return None
    enc_key = enc.group(2) if enc.group(2).startswith("0x") else ""
    auth_name, auth_key = (WS_AUTH.get(auth.group(1), "NULL"), auth.group(2)) if auth else ("NULL", "")
    return (f'"IPv4","*","*","0x{int(spi.group(1), 0):08x}","{WS_ENC.get(enc.group(1), "NULL")}",'
            f'"{enc_key}","{auth_name}","{auth_key}"')


def write_esp_sa(path, sa_lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Wireshark ESP SAs of an espnat lab run: holds keys, keep private\n")
        for line in sa_lines:
            row = sa_line_to_uat(line)
            if row:
                f.write(row + "\n")


def dissect(pcap, confdir, sip_ports):
    """tshark's view of a capture, one dict per IP packet; SIP is looked
    for on sip_ports too."""
    args = ["tshark", "-n", "-r", pcap, "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE",
            "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for port in sip_ports:
        args += ["-d", f"udp.port=={port},sip"]
    for f in FIELDS:
        args += ["-e", f]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, XDG_CONFIG_HOME=confdir))
    rows = []
    for line in r.stdout.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        if not v.get("ip.src"):
            continue
        src, dst = v["ip.src"].split(","), v["ip.dst"].split(",")
        sports = v.get("udp.srcport", "").split(",") if v.get("udp.srcport") else []
        dports = v.get("udp.dstport", "").split(",") if v.get("udp.dstport") else []
        rows.append({
            "t": float(v["frame.time_epoch"]), "src": src[0], "dst": dst[0],
            "inner": (src[-1], dst[-1]) if len(src) > 1 else None,
            "sport": int(sports[0]) if sports else None,
            "dport": int(dports[0]) if dports else None,
            "inner_ports": (int(sports[-1]), int(dports[-1])) if len(sports) > 1 else None,
            "spi": v.get("esp.spi", ""), "icv_good": v.get("esp.icv_good", "") in ("1", "True"),
            "keepalive": bool(v.get("udpencap.nat_keepalive")),
            "method": v.get("sip.Method", ""), "status": v.get("sip.Status-Code", ""),
            "cseq_method": v.get("sip.CSeq.method", ""), "icmp": v.get("icmp.type", ""),
            "icmp_code": v.get("icmp.code", "").split(",")[0],
            # the first fragment: tshark shows the reassembled packet on the last
            "fragment": v.get("ip.flags.mf", "").split(",")[0] in ("1", "True"),
            # a 401's keys for the P-CSCF (S-CSCF -> P-CSCF only) and its offer
            "keys": bool(v.get("sip.auth.ck") or v.get("sip.auth.ik")),
            "security_server": bool(v.get("sip.Security-Server")),
        })
    return rows, r.returncode, r.stderr


def sip_text(row):
    if row["method"]:
        return row["method"]
    if row["status"]:
        return f"{row['status']} ({row['cseq_method']})" if row["cseq_method"] else row["status"]
    return ""


def label(row):
    """(text, kind) of one packet: kind picks the colour."""
    if row["icmp"]:
        # an error quotes the packet it is about: tshark dissects that too
        what = f" about {row['spi'] or 'UDP'} to port {row['dport']}" if row["dport"] else ""
        kind = {"3": "unreachable"}.get(row["icmp"].split(",")[0], f"type {row['icmp']}")
        return f"ICMP {kind} (code {row['icmp_code']}){what}", "other"
    if row["fragment"]:
        return "IP fragment (the rest follows)", "other"
    if row["keepalive"]:
        return "NAT keepalive", "keepalive"
    if row["spi"]:
        inner = sip_text(row) or "?"
        ports = f"{row['sport']}→{row['dport']}" if row["sport"] else "ESP"
        return f"ESP {row['spi']} [{inner}] {ports}", "esp"
    text = sip_text(row)
    if text and row.get("core"):
        return f"{text}, Mw {row['sport']}→{row['dport']}", "core"
    if text:
        return f"{text}, in clear {row['sport']}→{row['dport']}", "plain"
    return f"UDP {row['sport']}→{row['dport']}" if row["sport"] else "IP", "other"


def arrows(lan, wan, lanes, nat_public, core=(), core_pcscf=None):
    """The captures in time order, each packet an arrow between lanes;
    `core` (the P-CSCF's link to the S-CSCF) when there is one."""
    out = []
    for row in lan:
        if row["src"] in lanes and row["src"] != nat_public:
            out.append((row, lanes[row["src"]], lanes["NAT"]))
        elif row["dst"] in lanes:
            out.append((row, lanes["NAT"], lanes[row["dst"]]))
    for row in wan:
        if row["src"] == nat_public:
            out.append((row, lanes["NAT"], lanes["P-CSCF"]))
        elif row["dst"] == nat_public:
            out.append((row, lanes["P-CSCF"], lanes["NAT"]))
    for row in core:
        row["core"] = True
        if row["src"] == core_pcscf:
            out.append((row, lanes["P-CSCF"], lanes["S-CSCF"]))
        elif row["dst"] == core_pcscf:
            out.append((row, lanes["S-CSCF"], lanes["P-CSCF"]))
    out.sort(key=lambda a: a[0]["t"])
    return collapse_keepalives(out)


def collapse_keepalives(items):
    """A run of keepalives becomes one arrow per hop, counted."""
    out, block = [], {}
    for row, a, b in items:
        if not row["keepalive"]:
            block = {}
            out.append([row, a, b, 1])
            continue
        key = (a, b)
        if key in block:
            block[key][3] += 1
        else:
            block[key] = [row, a, b, 1]
            out.append(block[key])
    return out


COLOURS = {"esp": "#1b7f3b", "plain": "#c0392b", "keepalive": "#8a8a8a", "other": "#5d6d7e",
           "core": "#1f5fa8"}


def draw_svg(path, lane_names, items, marks, t0):
    """lane_names: titles left to right; items: [row, from, to, count];
    marks: (epoch, title) of the scenario's steps."""
    lane_w, left, top, row_h, mark_h = 230, 70, 60, 22, 24
    width = left + lane_w * len(lane_names) + 20
    x = [left + lane_w // 2 + i * lane_w for i in range(len(lane_names))]
    body, y = [], top
    marks = sorted(marks)
    for row, a, b, count in items:
        while marks and marks[0][0] <= row["t"]:
            y += mark_h
            body.append(f'<rect x="2" y="{y - 16}" width="{width - 4}" height="20" fill="#eef3fb"/>'
                        f'<text x="8" y="{y - 2}" class="step">{html.escape(marks.pop(0)[1])}</text>')
        y += row_h
        text, kind = label(row)
        if count > 1:
            text += f" ×{count}"
        colour = COLOURS[kind]
        body.append(f'<text x="8" y="{y}" class="time">{row["t"] - t0:7.2f}</text>')
        body.append(f'<line x1="{x[a]}" y1="{y}" x2="{x[b]}" y2="{y}" stroke="{colour}" '
                    f'stroke-width="1.5" marker-end="url(#head-{kind})"/>')
        body.append(f'<text x="{(x[a] + x[b]) // 2}" y="{y - 4}" class="msg" fill="{colour}">'
                    f'{html.escape(text)}</text>')
    height = y + 30
    heads = "".join(
        f'<marker id="head-{k}" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
        f'<path d="M0,0 L8,4 L0,8 z" fill="{c}"/></marker>' for k, c in COLOURS.items())
    lanes = "".join(
        f'<text x="{x[i]}" y="30" class="lane">{html.escape(n)}</text>'
        f'<line x1="{x[i]}" y1="40" x2="{x[i]}" y2="{height - 10}" stroke="#bbb"/>'
        for i, n in enumerate(lane_names))
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="DejaVu Sans Mono, monospace">
<style>.lane{{font-size:13px;font-weight:bold;text-anchor:middle}} .msg{{font-size:10px;text-anchor:middle}} .time{{font-size:10px;fill:#777}} .step{{font-size:11px;font-weight:bold;fill:#234}}</style>
<defs>{heads}</defs>
<rect width="100%" height="100%" fill="white"/>
{lanes}
{chr(10).join(body)}
</svg>
"""
    with open(path, "w") as f:
        f.write(svg)
