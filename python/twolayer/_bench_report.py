"""``twolayer bench``'s output: the tables and the chart."""

from __future__ import annotations

from typing import Any

from ._bench_isa import format_isa
from ._bench_workloads import Workload


def _fmt_time(seconds: float) -> str:
    if seconds <= 0:
        return "0 s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _fmt_percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}%" if fraction >= 0.1 else f"{100 * fraction:.2g}%"


def _fmt_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def format_point(point: dict[str, Any]) -> str:
    """The table of one workload."""
    wl = Workload(**point["workload"])
    work, bound = point["work_per_iteration"], point["roofline"]
    lines = [
        f"workload {wl.describe()}",
        f"work per iteration: {work['multiply_adds']:.3g} multiply-adds, {work['tanh']:.3g} tanh, "
        f"{work['exp']:.3g} exp + {work['log1p']:.3g} log1p, {_fmt_bytes(work['x_bytes'])} of X"
        f" -> roofline bound {_fmt_time(bound['bound_s'])}/iteration ({bound['limit']})",
        "",
    ]
    header = (
        "runner",
        "time/iter",
        "speedup",
        "vs tutorial",
        "of bound",
        "peak mem (rss)",
        "traced",
        "first use",
        "cost vs numpy",
    )
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for entry in point["results"]:
        name = entry["name"] + (" (ref)" if entry["name"] == "numpy" else "")
        if entry["status"] != "ok":
            notes.append(f"{entry['name']}: {entry['status']}: {entry['reason']}")
            rows.append((name, entry["status"], "-", "-", "-", "-", "-", "-", "-"))
            continue
        mem = entry.get("memory")
        if mem is None:
            rss = traced = "-"
        elif "error" in mem:
            rss = traced = "error"
            notes.append(f"{entry['name']}: {mem['error']}")
        else:
            ratio = mem["rss_bytes"] / mem["x_bytes"] if mem["x_bytes"] else 0.0
            rss = f"{_fmt_bytes(mem['rss_bytes'])} ({ratio:.2g}x X)"
            traced = _fmt_bytes(mem["traced_bytes"])
        speedup = f"{entry['speedup']:.2f}x" if "speedup" in entry else "-"
        vs_tutorial = f"{entry['vs_tutorial']:.2f}x" if "vs_tutorial" in entry else "-"
        diff = f"{entry['cost_rel_diff']:.1e}" if "cost_rel_diff" in entry else "-"
        rows.append(
            (
                name,
                _fmt_time(entry["time_per_iter_s"]),
                speedup,
                vs_tutorial,
                _fmt_percent(entry["roofline_fraction"]),
                rss,
                traced,
                _fmt_time(entry["first_use_s"]),
                diff,
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    lines.extend(f"  note: {n}" for n in notes)
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    m, s, r = report["machine"], report["settings"], report["rates"]
    threads = s["threads"]
    blas = ", ".join(f"{b['internal_api']} {b['version']} {b['architecture']}" for b in m["blas"])
    out = [
        f"twolayer {m['twolayer']}",
        f"machine: {m['cpu']}, {m['usable_cpus']} of {m['cpus']} CPUs usable, {m['system']}, "
        f"Python {m['python']}, NumPy {m['numpy']} ({blas or 'BLAS unknown'})",
        f"settings: {s['dtype']}, {threads} thread{'s' if threads > 1 else ''}, "
        f"best of {s['repeat']} interleaved rounds"
        + (
            f"; load average {m['load_average'][0]:.2f} on {m['usable_cpus']} CPUs at the start"
            if m.get("load_average")
            else ""
        ),
        f"roofline rates ({s['dtype']}, {threads} thread{'s' if threads > 1 else ''}, "
        f"from {s.get('roofline_from') or 'NumPy: compiled kernels not installed'}): "
        f"peak {r['multiply_adds_per_s'] / 1e9:.3g} G multiply-adds/s, "
        f"tanh {r['tanh_per_s'] / 1e9:.3g} G/s, exp {r['exp_per_s'] / 1e9:.3g} G/s, "
        f"log1p {r['log1p_per_s'] / 1e9:.3g} G/s, stream {r['bytes_per_s'] / 1e9:.3g} GB/s",
        f"  for information: BLAS matmul {r['blas_multiply_adds_per_s'] / 1e9:.3g} G/s, "
        f"NumPy tanh {r['numpy_tanh_per_s'] / 1e9:.3g} G/s, exp {r['numpy_exp_per_s'] / 1e9:.3g}"
        f" G/s, log1p {r['numpy_log1p_per_s'] / 1e9:.3g} G/s",
    ]
    out.extend(format_isa(report["isa"], report["notes"], report.get("limit")))
    for point in report["points"]:
        out.extend(["", format_point(point)])
    if len(report["points"]) > 1:
        out.extend(["", format_scaling(report)])
    out.extend(
        [
            "",
            "speedup: over the numpy reference, same run; vs tutorial: over the article's"
            " literal code (tutorial), same run;",
            "of bound: roofline bound / time (peak multiply-adds, the kernels' tanh/exp/log1p);",
            "peak mem: rise of peak RSS during a fit, fresh process per runner;",
            "traced: tracemalloc peak (Python/NumPy allocations only);",
            "first use: extra time of the first fit (loading; Numba's compile or cache load);",
            "cost vs numpy: relative difference of the last cost (same start, same iterations).",
        ]
    )
    return "\n".join(out)


def format_scaling(report: dict[str, Any]) -> str:
    """Time per iteration along the scaled dimension, and per unit of work (flat = linear)."""
    dim = report["settings"]["scale"]
    key = {"n_samples": "n_samples", "hidden": "hidden", "features": "n_features"}[dim]
    points = report["points"]
    names = [e["name"] for e in points[0]["results"]]
    header = ("runner", *(f"{dim}={p['workload'][key]:,}" for p in points))
    rows = []
    for name in names:
        cells = [name]
        for p in points:
            entry = next(e for e in p["results"] if e["name"] == name)
            if entry["status"] != "ok":
                cells.append("-")
                continue
            per_work = entry["time_per_iter_s"] / p["roofline"]["bound_s"]
            cells.append(f"{_fmt_time(entry['time_per_iter_s'])} ({per_work:.3g}x)")
        rows.append(tuple(cells))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"scaling in {dim}: time/iteration (time / roofline bound: flat means linear)"]
    lines += [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = report["points"]
    s = report["settings"]
    if len(points) == 1:
        ok = [e for e in points[0]["results"] if e["status"] == "ok" and "speedup" in e]
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(ok) + 1.6))
        names = [e["name"] for e in ok]
        speedups = [e["speedup"] for e in ok]
        bars = ax.barh(
            names, speedups, color=["#888" if e["kind"] == "comparator" else "#3a7" for e in ok]
        )
        for bar, e in zip(bars, ok, strict=True):
            ax.annotate(
                f" {e['speedup']:.2f}x, {_fmt_percent(e['roofline_fraction'])} of bound",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                va="center",
            )
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("speedup over the NumPy reference (log scale)")
        ax.set_xlim(right=max(speedups) * 8)
        ax.set_title(f"{points[0]['workload']['name']}: {s['dtype']}, {s['threads']} thread(s)")
    else:
        dim = s["scale"]
        key = {"n_samples": "n_samples", "hidden": "hidden", "features": "n_features"}[dim]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        xs = [p["workload"][key] for p in points]
        for name in [e["name"] for e in points[0]["results"]]:
            pairs = [
                (x, e["time_per_iter_s"])
                for x, p in zip(xs, points, strict=True)
                for e in p["results"]
                if e["name"] == name and e["status"] == "ok"
            ]
            if pairs:
                ax.plot(*zip(*pairs, strict=True), marker="o", label=name)
        ax.plot(xs, [p["roofline"]["bound_s"] for p in points], "k--", label="roofline bound")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(dim)
        ax.set_ylabel("seconds per iteration")
        ax.legend()
        ax.set_title(f"scaling in {dim}: {s['dtype']}, {s['threads']} thread(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
