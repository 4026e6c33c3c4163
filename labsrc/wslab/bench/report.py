"""Turning rows into the tables a person reads, the ratios the issue asks for, and the verdicts.

The verdicts compare against the kit's targets (at N=500) and are printed as information: a
benchmark on a shared two-core machine is evidence, not a test, so the command exits 0 either
way and the table says how busy the machine was while each row was measured.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from wslab.bench.fanout import FanoutResult
from wslab.bench.memory import MemoryResult
from wslab.bench.servers import SERVERS

TARGET_N = 500
#: wslab must deliver at least this many times what websockets' broadcast() does.
TARGET_VS_REFERENCE = 1.2
#: ... and at least what the lecture's manager does.
TARGET_VS_LECTURE = 1.0
#: With a stalled client, the healthy clients' p99 may grow by at most this factor.
TARGET_STALL_P99 = 2.0
#: Server memory per idle connection, KiB.
TARGET_KIB = 32.0
#: Other processes using more than this share of a core make a row "noisy".
NOISY_CPU = 0.10


@dataclasses.dataclass
class Verdict:
    ok: bool | None  # None: could not be judged (a row is missing or failed)
    text: str

    def line(self) -> str:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[self.ok]
        return f"  {mark}  {self.text}"


def _label(server: str) -> str:
    return SERVERS[server].label if server in SERVERS else server


def _ms(value: float | None, stalled_rows: bool = False) -> str:
    if value is None:
        return "never" if stalled_rows else "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _find(rows: Iterable[FanoutResult], server: str, n: int, stalled: bool) -> FanoutResult | None:
    for row in rows:
        if row.server == server and row.n == n and row.stalled == stalled and not row.error:
            return row
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def fanout_table(rows: list[FanoutResult], stalled: bool) -> list[str]:
    out = []
    head = (f"{'server':<28} {'N':>5} {'deliveries/s':>12} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'us/deliv':>8} {'server CPU':>10} {'load CPU':>8} {'other':>5} {'deflate':>7}")
    if stalled:
        head += f" {'secs':>5} {'p99 vs before':>13}  the stalled client"
    out.append(head)
    out.append("-" * len(head))
    for row in rows:
        if row.stalled != stalled:
            continue
        if row.error:
            out.append(f"{_label(row.server):<28} {row.n:>5}  ERROR {row.error}")
            continue
        noisy = " *" if row.other_cpu > NOISY_CPU else ""
        cost = _cost(row) or 0.0
        line = (f"{_label(row.server):<28} {row.n:>5} {row.deliveries_per_s:>12,.0f} "
                f"{_ms(row.p50_ms, True):>7} {_ms(row.p99_ms, True):>7} {cost:>8.1f} "
                f"{_pct(row.server_cpu):>10} {_pct(row.loadgen_cpu):>8} "
                f"{_pct(row.other_cpu):>5} {row.deflate:>7}")
        if stalled:
            base = _find(rows, row.server, row.n, False)
            if row.p99_ms is None:
                growth_text = "stalled"
            else:
                growth_text = _x(_ratio(row.p99_ms, base.p99_ms if base else None))
            line += f" {row.seconds:>5.1f} {growth_text:>13}  {_fate(row)}"
        out.append(line + noisy)
    return out


def _fate(row: FanoutResult) -> str:
    parts = []
    if row.delivery_stopped_after_s is not None and row.delivered < row.expected:
        parts.append(f"delivery to everyone stopped {row.delivery_stopped_after_s:.1f} s "
                     "after it joined")
    if row.stalled_evicted_after_s is not None:
        parts.append(f"dropped after {row.stalled_evicted_after_s:.1f} s")
    if row.stalled_fate:
        parts.append(row.stalled_fate)
    if row.receivers_dropped:
        parts.append(f"{row.receivers_dropped} healthy receivers were disconnected")
    return "; ".join(parts)


def ratio_table(rows: list[FanoutResult], sizes: list[int]) -> list[str]:
    head = (f"{'N':>5} {'wslab / (a) lecture':>22} {'wslab / (c) websockets':>24} "
            f"{'wslab / (c) no deflate':>24}")
    out = [head, "-" * len(head)]
    for n in sizes:
        wslab = _find(rows, "wslab", n, False)
        cells = []
        for other in ("lecture", "reference", "reference-nodeflate"):
            row = _find(rows, other, n, False)
            rate = _ratio(wslab.deliveries_per_s if wslab else None,
                          row.deliveries_per_s if row else None)
            cost = _ratio(_cost(row), _cost(wslab))
            cells.append(f"{_x(rate)} ({_x(cost)})")
        out.append(f"{n:>5} {cells[0]:>22} {cells[1]:>24} {cells[2]:>24}")
    return out


def _cost(row: FanoutResult | None) -> float | None:
    """Server CPU microseconds per delivery."""
    if row is None or not row.deliveries_per_s or not row.server_cpu:
        return None
    return row.server_cpu * 1e6 / row.deliveries_per_s


def memory_table(rows: list[MemoryResult]) -> list[str]:
    head = (f"{'server':<30} {'deflate':>7} {'RSS before':>11} {'RSS after':>10} "
            f"{'per connection':>15}")
    out = [head, "-" * len(head)]
    for row in rows:
        if row.error:
            out.append(f"{_label(row.server):<30}  ERROR {row.error}")
            continue
        out.append(f"{_label(row.server):<30} {row.deflate:>7} "
                   f"{row.rss_before_kib / 1024:>7.1f} MiB {row.rss_after_kib / 1024:>6.1f} MiB "
                   f"{row.kib_per_connection:>11.1f} KiB")
    return out


def verdicts(rows: list[FanoutResult], memory: list[MemoryResult],
             n: int = TARGET_N) -> list[Verdict]:
    out = []
    wslab = _find(rows, "wslab", n, False)
    ref = _find(rows, "reference", n, False)
    ref_plain = _find(rows, "reference-nodeflate", n, False)
    lecture = _find(rows, "lecture", n, False)

    def rate_verdict(other: FanoutResult | None, target: float, name: str) -> Verdict:
        ratio = _ratio(wslab.deliveries_per_s if wslab else None,
                       other.deliveries_per_s if other else None)
        if ratio is None:
            return Verdict(None, f"wslab delivers >= {target:g}x {name} at N={n}: no data")
        return Verdict(ratio >= target, f"wslab delivers >= {target:g}x {name} at N={n}: "
                                        f"{ratio:.2f}x ({wslab.deliveries_per_s:,.0f} vs "
                                        f"{other.deliveries_per_s:,.0f}/s)")

    out.append(rate_verdict(ref, TARGET_VS_REFERENCE, "websockets broadcast() (c)"))
    out.append(rate_verdict(lecture, TARGET_VS_LECTURE, "the lecture's manager (a)"))
    plain = _ratio(wslab.deliveries_per_s if wslab else None,
                   ref_plain.deliveries_per_s if ref_plain else None)
    if plain is not None:
        out.append(Verdict(None, f"(for comparison, not a target) wslab / websockets without "
                                 f"deflate (c') at N={n}: {plain:.2f}x"))

    stalled = _find(rows, "wslab", n, True)
    if wslab is None or stalled is None or wslab.p99_ms is None:
        out.append(Verdict(None, f"wslab's healthy p99 with a stalled client <= "
                                 f"{TARGET_STALL_P99:g}x without, at N={n}: no data"))
    elif stalled.p99_ms is None:
        out.append(Verdict(False, f"wslab's healthy p99 with a stalled client <= "
                                  f"{TARGET_STALL_P99:g}x without, at N={n}: deliveries missing"))
    else:
        growth = stalled.p99_ms / wslab.p99_ms
        out.append(Verdict(growth <= TARGET_STALL_P99,
                           f"wslab's healthy p99 with a stalled client <= {TARGET_STALL_P99:g}x "
                           f"without, at N={n}: {growth:.2f}x ({stalled.p99_ms:.1f} vs "
                           f"{wslab.p99_ms:.1f} ms)"))

    lecture_stalled = _find(rows, "lecture", n, True)
    if lecture is None or lecture_stalled is None:
        out.append(Verdict(None, f"the lecture's manager stalls with a stalled client, at N={n}: "
                                 "no data"))
    else:
        stopped = lecture_stalled.delivered < lecture_stalled.expected
        text = (f"the lecture's manager stalls with a stalled client, at N={n} (expected): "
                + (f"yes, {_fate(lecture_stalled)}" if stopped else
                   "not within this run"))
        out.append(Verdict(stopped, text))

    mem = next((m for m in memory if m.server == "wslab" and not m.error), None)
    if mem is None:
        out.append(Verdict(None, f"wslab memory per idle connection <= {TARGET_KIB:g} KiB: "
                                 "no data"))
    else:
        out.append(Verdict(mem.kib_per_connection <= TARGET_KIB,
                           f"wslab memory per idle connection <= {TARGET_KIB:g} KiB: "
                           f"{mem.kib_per_connection:.1f} KiB"))
    return out


def render(meta: dict[str, Any], rows: list[FanoutResult], memory: list[MemoryResult],
           sizes: list[int]) -> str:
    out = [f"wslab fan-out benchmark  ({meta['summary']})", ""]
    out += [f"  {line}" for line in meta["method"]]
    if rows:
        out += ["", f"Fan-out, {meta['seconds']:g} s per row:", ""]
        out += fanout_table(rows, stalled=False)
        out += ["", "Ratios of deliveries per second (in brackets: of server CPU per delivery, "
                    "inverted;", "the same comparison, but steadier when other processes "
                    "disturb a row):", ""]
        out += ratio_table(rows, sizes)
        if any(r.stalled for r in rows):
            out += ["", "The same, plus one client that never reads (measured from the moment it "
                        f"joins, for {meta['stall_seconds']:g} s or until",
                    "its buffers must be full at the baseline rate; healthy receivers only):", ""]
            out += fanout_table(rows, stalled=True)
        out += ["", "  p50/p99: arrival minus send time over every (line, receiver) pair; 'never':"
                    " more than that share",
                "  of the deliveries never arrived. us/deliv: server CPU microseconds per "
                "delivery (what bounds",
                "  deliveries/s on a dedicated core; steadier than deliveries/s on a busy "
                "machine). CPU: share of one",
                "  core; load = receivers + sender; other = every other process on the machine "
                f"meanwhile (* = over {_pct(NOISY_CPU)}:",
                "  the row is noisy)."]
    if memory:
        out += ["", f"Server memory per idle connection ({memory[0].connections} connections, "
                    "clients offer permessage-deflate like browsers):", ""]
        out += memory_table(memory)
    judged = TARGET_N if TARGET_N in sizes or not sizes else max(sizes)
    where = (f"at N={judged}" if judged == TARGET_N else
             f"set for N={TARGET_N}, judged here at N={judged}")
    out += ["", f"Targets ({where}; information only, the exit status is 0 either way):"]
    out += [v.line() for v in verdicts(rows, memory, judged)]
    return "\n".join(out)
