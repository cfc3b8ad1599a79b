#!/usr/bin/env python3
"""bench-table.py: the results table of docs/benchmarks.md, from fcbench's JSON.

    tools/bench-table.py bench-results/results.json
    tools/bench-table.py --replace docs/benchmarks.md bench-results/results.json

Prints a Markdown table of one fcbench run: for each workload, mode, thread
count and engine, the median MB/s over the repetitions with its range, the
ratios of medians to kernel mmap without a limit (x mmap) and at equal
memory (x mmap@cg, kernel mmap in a memory cgroup of the fc budget), CPU
seconds per GB, read amplification, memory, fc's p99 fault latency and, for
scanres, the share of the hot set kept. Above it, a line stamps the run:
host, CPUs, kernel, commit, library version, date, file, budgets and the
exact command, all taken from the JSON.

With --replace FILE, the lines between "<!-- fcbench-table -->" and
"<!-- /fcbench-table -->" in FILE are replaced by the table (the markers
stay), so the table is regenerated in place and the prose around it is not
touched. Python 3 standard library only.
"""
import argparse
import json
import statistics
import sys

# workloads that read one byte per 4 KiB page (bench/workloads.c)
ONE_BYTE = ("seq1", "reverse")
START = "<!-- fcbench-table -->"
END = "<!-- /fcbench-table -->"


def median(values):
    return statistics.median(values) if values else None


def mib(n):
    return n / 1048576.0


def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def stamp(run):
    return (
        "fcbench at commit `{commit}` (libfaultcache {library}) on {host}, "
        "{cpus} CPUs, Linux {kernel}, {date}; a {size:.0f} MiB file "
        "(`{file}`), {reps} repetitions, fc budget {budget:.0f} MiB "
        "(ws4x and scanres {small:.0f} MiB), fc pages {page} KiB, shmem THP "
        "{thp}; cold runs dropped the cache of {drop}; equal memory: {cg}. "
        "Command: `{command}`".format(
            commit=run["commit"], library=run["library"], host=run["host"],
            cpus=run["cpus"], kernel=run["kernel"], date=run["date"],
            size=mib(run["file_bytes"]), file=run["file"], reps=run["reps"],
            budget=mib(run["fc_budget_bytes"]),
            small=mib(run["fc_small_budget_bytes"]),
            page=run["fc_page_size"] // 1024, thp=run["shmem_enabled"],
            drop="the whole machine (drop_caches)"
            if run["drop_caches"] == "system" else "the bench file only",
            cg=run["equal_memory"], command=run["command"]))


def table(data):
    rows = data["results"]
    groups = {}     # (workload, mode, threads) -> engine -> [rows]
    for r in rows:
        key = (r["workload"], r["mode"], r["threads"])
        groups.setdefault(key, {}).setdefault(r["engine"], []).append(r)
    out = [stamp(data["run"]), "",
           "| workload | mode | threads | engine | MB/s (median) | [min-max] "
           "| x mmap | x mmap@cg | CPU s/GB | read amp. | memory MiB "
           "| fc p99 us | hot set % |",
           "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: "
           "| ---: | ---: | ---: | ---: |"]
    for (wl, mode, threads), engines in groups.items():
        def med_mbs(engine):
            return median([r["mb_per_s"] for r in engines.get(engine, [])])
        base, base_cg = med_mbs("mmap"), med_mbs("mmap@cg")
        for engine, rs in engines.items():
            mbs = med_mbs(engine)
            cpu = median([r["cpu_seconds"] / (r["used_bytes"] / 1e9)
                          for r in rs if r["used_bytes"]])
            amp = median([r["read_amplification"] for r in rs])
            mem = median([mib(r["memcg_peak_bytes"] or r["peak_mem_bytes"])
                          for r in rs])
            p99 = median([r["lat_p99_ns"] / 1000 for r in rs])
            fc = engine.startswith("fc")
            hot = median([100 * r["hot_resident"] for r in rs])
            out.append(
                "| {} | {} | {} | {} | {} | [{}-{}] | {} | {} | {} | {} | {} "
                "| {} | {} |".format(
                    wl + ("*" if wl in ONE_BYTE else ""), mode, threads,
                    engine, fmt(mbs, ".1f"),
                    fmt(min(r["mb_per_s"] for r in rs), ".0f"),
                    fmt(max(r["mb_per_s"] for r in rs), ".0f"),
                    fmt(mbs / base if base else None, ".2f"),
                    fmt(mbs / base_cg if base_cg else None, ".2f"),
                    fmt(cpu, ".2f"), fmt(amp, ".2f"), fmt(mem, ".0f"),
                    fmt(p99 if fc and p99 else None, ".0f"),
                    fmt(hot if wl == "scanres" else None, ".1f")))
    if any(key[0] in ONE_BYTE for key in groups):
        out += ["", "\\* One byte read per 4 KiB page: MB/s counts 4 KiB "
                "per page touched, the rate at which pages become readable, "
                "not bytes copied (a warm fc maps a 2 MiB huge page in one "
                "fault)."]
    return "\n".join(out) + "\n"


def replace(path, text):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        a = lines.index(START)
        b = lines.index(END, a)
    except ValueError:
        sys.exit("bench-table.py: %s has no %s ... %s lines to replace"
                 % (path, START, END))
    lines[a + 1:b] = ["", text.rstrip("\n"), ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(
        description="The results table of docs/benchmarks.md from "
                    "fcbench's results.json.")
    ap.add_argument("json", help="bench-results/results.json")
    ap.add_argument("--replace", metavar="FILE",
                    help="replace the table between the markers in FILE")
    args = ap.parse_args()
    with open(args.json, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or "run" not in data:
        sys.exit("bench-table.py: %s comes from an fcbench without the run "
                 "header (host, kernel, commit): run fcbench again"
                 % args.json)
    text = table(data)
    if args.replace:
        replace(args.replace, text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
