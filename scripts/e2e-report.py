#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The report of scripts/e2e.sh: from its raw rows (one per iperf3 run), the
table (median of the rounds and their range), the same as JSON, and the
gnuplot script of the one-stream chart.

    e2e-report.py RAW OUT MODES MODE_LIST ROUNDS DURATION UDP_RATE"""
import json
import os
import statistics
import sys

raw, out, modes, mode_list, rounds, duration, udp_rate = sys.argv[1:8]
modes = modes.split()
desc = {}
for line in mode_list.strip().splitlines():
    name, tests, what = line.split(":", 2)
    desc[name] = what

runs, fails = {}, {}
for line in open(raw):
    f = line.rstrip("\n").split("\t")
    if len(f) < 5:
        continue
    key = (f[1], f[2])
    if f[3] != "OK":
        fails.setdefault(key, []).append(f[4])
        continue
    runs.setdefault(key, []).append(
        dict(gbps=float(f[4]), bytes=int(f[5]), cpu=float(f[6]),
             retr=int(f[7]) if f[7] else None, lost=float(f[8]) if f[8] else None, mtu=f[9]))

TESTS = ("p1", "p4", "rev", "udp")
TEST_NAME = {"p1": "TCP 1 stream", "p4": "TCP 4 streams", "rev": "TCP reverse",
             "udp": "UDP at " + udp_rate + "bit/s"}


def stat(v):
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


result = {"rounds": int(rounds), "duration_s": int(duration), "udp_rate": udp_rate, "modes": []}
for m in modes:
    entry = {"mode": m, "what": desc.get(m, ""), "tests": {}}
    for t in TESTS:
        k = (m, t)
        if k not in runs and k not in fails:
            continue
        v = runs.get(k, [])
        cpu = [x["cpu"] / (x["bytes"] / 1e9) for x in v if x["bytes"] > 0 and m != "kernel"]
        entry["tests"][t] = {
            "gbps": stat([x["gbps"] for x in v]),
            "cpu_s_per_gb": stat(cpu),
            "retransmits": stat([x["retr"] for x in v if x["retr"] is not None]),
            "lost_percent": stat([x["lost"] for x in v if x["lost"] is not None]),
            "mtu": v[0]["mtu"] if v else None,
            "failed": fails.get(k, []),
        }
    result["modes"].append(entry)
json.dump(result, open(os.path.join(out, "e2e.json"), "w"), indent=1)


def fmt(s, f="%.2f"):
    if not s:
        return "-"
    if s["n"] == 1:
        return f % s["median"]
    return (f % s["median"]) + " (" + (f % s["min"]) + "–" + (f % s["max"]) + ")"


kernel_p1 = next((e["tests"]["p1"]["gbps"]["median"] for e in result["modes"]
                  if e["mode"] == "kernel" and "p1" in e["tests"] and e["tests"]["p1"]["gbps"]), None)
lines = [
    "Gbit/s received, median of %s rounds of %s s (range); CPU-s/GB: CPU seconds the two tunnel "
    "processes spent per 10^9 bytes received; retr: TCP retransmits (median)." % (rounds, duration),
    "",
    "| mode | TCP 1 stream | × kernel | CPU-s/GB | retr | TCP 4 streams | TCP reverse | UDP %sbit/s offered: received | UDP lost %% |"
    % udp_rate,
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for e in result["modes"]:
    t = e["tests"]
    p1 = t.get("p1", {})
    g = p1.get("gbps")
    ratio = "%.2f" % (g["median"] / kernel_p1) if g and kernel_p1 and e["mode"] != "kernel" else "-"
    cells = [
        "**%s**" % e["mode"] if e["mode"].startswith("tb-") else e["mode"],
        fmt(g) + (" FAILED" if p1.get("failed") else ""),
        ratio,
        fmt(p1.get("cpu_s_per_gb")),
        fmt(p1.get("retransmits"), "%.0f") if p1.get("retransmits") else "-",
        fmt(t.get("p4", {}).get("gbps")),
        fmt(t.get("rev", {}).get("gbps")),
        fmt(t.get("udp", {}).get("gbps")),
        fmt(t.get("udp", {}).get("lost_percent")),
    ]
    lines.append("| " + " | ".join(cells) + " |")
lines.append("")
for e in result["modes"]:
    lines.append("- %s: %s" % (e["mode"], e["what"]))
    for t, v in e["tests"].items():
        for f in v["failed"][:1]:
            lines.append("  - %s FAILED %d time(s): %s" % (t, len(v["failed"]), f))
open(os.path.join(out, "table.md"), "w").write("\n".join(lines) + "\n")

# The chart: one TCP stream, median with the range as error bars.
with open(os.path.join(out, "chart.dat"), "w") as f:
    for i, e in enumerate(result["modes"]):
        g = e["tests"].get("p1", {}).get("gbps")
        if g:
            f.write('%d "%s" %.3f %.3f %.3f\n' % (i, e["mode"], g["median"], g["min"], g["max"]))
gp = """set terminal pngcairo size 1100,520 font 'DejaVu Sans,11'
set output '{out}/e2e.png'
set title "tunbatch tunnel against the kernel and peer tunnels: one TCP stream (iperf3, median of {rounds} rounds, bars: range)"
set ylabel 'Gbit/s'
set style fill solid 0.8 border -1
set boxwidth 0.7
set grid ytics
set yrange [0:*]
set xtics rotate by -30 nomirror
set rmargin 10
set offsets 0.5, 0.5, graph 0.08, 0
unset key
plot '{out}/chart.dat' using 1:3:xtic(2) with boxes lc rgb '#3b7dd8', \\
     '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0, \\
     '' using 1:($5):(sprintf('%.2f', $3)) with labels offset 0,0.8 font ',9'
""".format(out=out, rounds=rounds)
if not os.path.exists("/usr/share/fonts/truetype/dejavu"):
    gp = gp.replace("pngcairo size 1100,520 font 'DejaVu Sans,11'", "png size 1100,520")
open(os.path.join(out, "chart.gp"), "w").write(gp)
