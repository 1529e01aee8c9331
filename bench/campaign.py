"""How fast a campaign goes out, next to a plain smtplib loop and the bare SMTP exchange,
on SQLite and PostgreSQL, by one and two workers, DKIM-signed or not; and how much
memory a worker needs.

    .venv/bin/python -m bench.campaign [--quick] [--size 10000] [--large 100000]

Each cell: a fresh database with that many confirmed subscribers and one campaign
scheduled for now, then the real `flask --app wsgi worker` processes queue and deliver
it to a local SMTP sink (aiosmtpd, in its own process) that counts the messages per
recipient from the RCPT TO envelope. Beside them, in the same run, a plain smtplib loop
sends the same number of similar messages to the same sink over one connection, and a
raw loop sends ready-made bytes (the SMTP ceiling). Writes bench/RESULTS.md. Not a
test: nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench import campaign_data as data  # noqa: E402
from bench.bounces import free_port, peak_memory_mb  # noqa: E402

STALL_SECONDS = 90
BATCH_SIZE = "200"


@dataclass
class Cell:
    backend: str
    workers: int
    dkim: str
    recipients: int
    rate: float
    delivered: int
    duplicates: int
    peak: float
    first: float
    note: str = ""


@dataclass
class Baseline:
    backend: str
    when: str
    recipients: int
    plain: float
    raw: float
    same: float
    plain_counts: tuple[int, int]
    raw_counts: tuple[int, int]


def run_worker(
    url: str, instance: Path, sink: data.Sink, count: int, extra: dict[str, str], processes: int
) -> tuple[float, float, float, str]:
    """Start `processes` workers and wait until every recipient has the message (or
    nothing arrives for STALL_SECONDS): (seconds, seconds until the first message
    arrived, largest peak memory of one worker in MB, a note when it did not finish)."""
    env = {
        **os.environ,
        "CONSENTAPP_ENV": "testing",
        "DATABASE_URL": url,
        "CONSENTAPP_INSTANCE": str(instance),
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(sink.port),
        "MAIL_BATCH_SIZE": BATCH_SIZE,
        "WORKER_POLL_SECONDS": "1",
        **extra,
    }
    sink.reset()
    logs = [instance.parent / f"{instance.name}-worker{n}.log" for n in range(processes)]
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        for log in logs
    ]
    peak, first, note, last, moved = 0.0, 0.0, "", (0, 0), time.perf_counter()
    try:
        while True:
            peak = max([peak] + [peak_memory_mb(worker.pid) for worker in workers])
            counts = sink.counts()
            if counts[0] and not first:
                first = time.perf_counter() - started
            if counts[1] >= count:
                break
            if counts != last:
                last, moved = counts, time.perf_counter()
            elif time.perf_counter() - moved > STALL_SECONDS:
                note = f"stalled: nothing arrived for {STALL_SECONDS} s"
                break
            if any(worker.poll() is not None for worker in workers):
                tail = logs[0].read_text(errors="replace")[-300:].strip().replace("\n", " ")
                note = f"a worker exited: {tail}"
                break
            time.sleep(0.1)
        seconds = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    return seconds, first, peak, note


def measure_cell(
    base: str,
    backend: str,
    work: Path,
    sink: data.Sink,
    count: int,
    processes: int,
    dkim: tuple[str, dict[str, str]],
) -> Cell:
    name = f"c{count}w{processes}{dkim[0].replace('+', '').lower()}"
    url = data.new_url(base, work, name)
    instance = work / f"instance-{backend}-{name}"
    data.prepare(url, instance, count)
    seconds, first, peak, note = run_worker(url, instance, sink, count, dkim[1], processes)
    total, distinct = sink.settled()
    cell = Cell(
        backend,
        processes,
        dkim[0],
        count,
        distinct / max(seconds - first, 1e-9),
        distinct,
        total - distinct,
        peak,
        first,
        note,
    )
    print(
        f"{backend} {processes} worker(s) DKIM {dkim[0]} {count}: {cell.rate:.0f}/s, "
        f"delivered {distinct}, duplicates {total - distinct}, peak {peak:.0f} MB {note}",
        flush=True,
    )
    return cell


def measure_baseline(
    backend: str, when: str, sink: data.Sink, count: int, ready: bytes
) -> Baseline:
    sink.reset()
    same = count / data.same_bytes_loop(sink.port, count, ready)
    sink.reset()
    plain = count / data.plain_loop(sink.port, count)
    plain_counts = sink.settled()
    sink.reset()
    raw = count / data.raw_loop(sink.port, count)
    raw_counts = sink.settled()
    print(
        f"{backend} baselines {when} {count}: plain {plain:.0f}/s, raw {raw:.0f}/s, "
        f"the worker's bytes {same:.0f}/s",
        flush=True,
    )
    return Baseline(backend, when, count, plain, raw, same, plain_counts, raw_counts)


def mean_rates(baselines: list[Baseline], backend: str) -> tuple[float, float, float]:
    """The plain, raw and same-bytes rates of `backend`, averaged over its runs before
    and after."""
    mine = [b for b in baselines if b.backend == backend]
    return (
        sum(b.plain for b in mine) / len(mine),
        sum(b.raw for b in mine) / len(mine),
        sum(b.same for b in mine) / len(mine),
    )


@dataclass
class Plan:
    size: int
    baseline_size: int
    dkim_size: int
    large: int
    dual: bool
    backends: list[str]
    command: str
    load: list[float] = field(default_factory=list)


def run(plan: Plan) -> tuple[list[Cell], list[Baseline], dict[str, str]]:
    cells: list[Cell] = []
    baselines: list[Baseline] = []
    versions: dict[str, str] = {}
    plan.load.append(os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix="consentapp-bench-") as tmp:
        work = Path(tmp)
        modes = data.dkim_settings(work)
        ready = data.worker_bytes(work)
        sink = data.Sink(free_port(), work / "sink-state")
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.campaign", "--sink", str(sink.port), str(sink.state)],
            cwd=PROJECT,
        )
        try:
            sink.counts()
            for backend in plan.backends:
                with data.database(backend, work) as (base, version):
                    versions[backend] = version
                    if base is None:
                        continue
                    baselines.append(
                        measure_baseline(backend, "before", sink, plan.baseline_size, ready)
                    )
                    wanted = [(w, "off", plan.size) for w in (1, 2)]
                    wanted += [(w, "RSA", plan.dkim_size) for w in (1, 2)]
                    wanted += [(2, "RSA+Ed25519", plan.dkim_size)] if plan.dual else []
                    for processes, mode, count in wanted:
                        cells.append(
                            measure_cell(
                                base, backend, work, sink, count, processes, (mode, modes[mode])
                            )
                        )
                    if plan.large and backend == "sqlite":
                        cells.append(
                            measure_cell(
                                base, backend, work, sink, plan.large, 1, ("off", modes["off"])
                            )
                        )
                    baselines.append(
                        measure_baseline(backend, "after", sink, plan.baseline_size, ready)
                    )
        finally:
            process.terminate()
            process.wait(timeout=10)
    plan.load.append(os.getloadavg()[0])
    return cells, baselines, versions


def find(cells: list[Cell], backend: str, workers: int, dkim: str, count: int) -> Cell | None:
    for cell in cells:
        if (cell.backend, cell.workers, cell.dkim, cell.recipients) == (
            backend,
            workers,
            dkim,
            count,
        ):
            return cell
    return None


def report(
    plan: Plan, cells: list[Cell], baselines: list[Baseline], versions: dict[str, str]
) -> str:
    lines = [
        "# Campaign delivery benchmark",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. "
        "Databases: " + "; ".join(versions.values()) + " (PostgreSQL: a throwaway "
        "local cluster, fsync off). A local aiosmtpd sink in its own process. Load average "
        "(1 min) at the start and the end: "
        + ", ".join(f"{x:.1f}" for x in plan.load)
        + (
            " (above the core count: other work shared the machine, the figures are noisy)."
            if max(plan.load) > (os.cpu_count() or 1)
            else "."
        ),
        "",
        f"Command: `.venv/bin/{plan.command}` (`make bench` runs it with the defaults). "
        f"Sizes: {plan.size:,} recipients a cell unsigned, {plan.dkim_size:,} signed"
        + (f", and one {plan.large:,}-recipient SQLite run for memory" if plan.large else "")
        + f"; {plan.baseline_size:,} messages each plain and raw loop. "
        f"Worker setting MAIL_BATCH_SIZE={BATCH_SIZE}.",
        "",
        "- **worker**: the real `flask --app wsgi worker` processes (one, or two side by "
        "side), timed from the first message at the sink to the last (the process start is "
        "in **first (s)**). "
        "The campaign is scheduled and nothing is queued yet: the workers queue the "
        "recipients (a personal unsubscribe link each), then per message re-check consent, "
        "build (and sign) the mail, send it and commit the outcome.",
        "- **plain**: smtplib over one connection, each message built with the standard "
        "library's `EmailMessage`, unsigned.",
        "- **raw**: smtplib sending ready-made bytes from a short string template (about "
        "350 bytes), no mail building at all.",
        "- **same bytes**: smtplib sending, ready-made, the very bytes the worker sends for "
        "this campaign (multipart text and HTML with the footer and the list headers, about "
        "3.6 kB): the ceiling of the SMTP exchange for these messages on this machine and "
        "sink. The sink reads a message line by line, so the size counts.",
        "- **DKIM**: off; RSA (a 2048-bit key: DKIM_DOMAIN, DKIM_SELECTOR, DKIM_KEY_PATH); "
        "RSA+Ed25519 (two signatures a message: also DKIM_ED25519_SELECTOR, "
        "DKIM_ED25519_KEY_PATH).",
        "- **÷ same bytes**, **÷ raw**, **÷ plain**: the worker's messages a second divided "
        "by the same-bytes loop's (the goal, ≥ 0.6, is measured against it), the raw and "
        "the plain loop's, each the mean of its two runs on the same "
        "database block, before its first worker cell and after its last (the machine is "
        "shared: the two show the noise). "
        "**÷ unsigned**: a signed cell divided by the unsigned cell of the same database "
        "and worker count (goal ≥ 0.8).",
        "- **delivered, duplicates**: distinct recipients the sink saw and messages beyond "
        "one a recipient (from the RCPT TO envelope); a clean run delivers every recipient "
        "with 0 duplicates.",
        "- **first (s)**: seconds from the workers' start until the first message "
        "arrived (process start, the first poll, queueing the first recipients).",
        "- **peak MB**: the largest peak resident memory (VmHWM) of one worker process.",
        "",
        "Baselines (one connection, unsigned):",
        "",
        "| database run | when | recipients | plain (msg/s) | raw (msg/s) | same bytes (msg/s) | plain delivered, duplicates | raw delivered, duplicates |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for b in baselines:
        lines.append(
            f"| {b.backend} | {b.when} | {b.recipients:,} | {b.plain:.0f} | {b.raw:.0f} "
            f"| {b.same:.0f} "
            f"| {b.plain_counts[1]:,}, {b.plain_counts[0] - b.plain_counts[1]} "
            f"| {b.raw_counts[1]:,}, {b.raw_counts[0] - b.raw_counts[1]} |"
        )
    lines += [
        "",
        "| database | workers | DKIM | recipients | worker (msg/s) | ÷ same bytes | ÷ raw | ÷ plain | ÷ unsigned | delivered, duplicates | first (s) | peak MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for c in cells:
        unsigned = find(cells, c.backend, c.workers, "off", plan.size)
        versus = f"{c.rate / unsigned.rate:.2f}" if unsigned and c.dkim != "off" else ""
        plain, raw, same = mean_rates(baselines, c.backend)
        lines.append(
            f"| {c.backend} | {c.workers} | {c.dkim} | {c.recipients:,} | {c.rate:.0f} "
            f"| {c.rate / same:.2f} | {c.rate / raw:.2f} | {c.rate / plain:.2f} "
            f"| {versus} | {c.delivered:,}, {c.duplicates} | {c.first:.1f} | {c.peak:.0f} |"
            + (f" {c.note}" if c.note else "")
        )
    small = find(cells, "sqlite", 1, "off", plan.size)
    large = find(cells, "sqlite", 1, "off", plan.large)
    if small and large and large is not small:
        lines += [
            "",
            f"Peak memory of one worker, {plan.large:,} to {plan.size:,} recipients "
            f"(SQLite, one worker, unsigned): {large.peak:.0f} / {small.peak:.0f} MB = "
            f"{large.peak / small.peak:.2f} (goal: within 1.2; and under 150 MB).",
        ]
    skipped = [v for v in versions.values() if "skipped" in v]
    lines += ["", *skipped] if skipped else []
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument("--size", type=int, help="recipients of each unsigned cell")
    parser.add_argument("--dkim-size", type=int, help="recipients of each signed cell")
    parser.add_argument("--baseline-size", type=int, help="messages of each plain/raw loop")
    parser.add_argument("--large", type=int, help="the SQLite memory run (0: none)")
    parser.add_argument("--no-dual", action="store_true", help="no RSA+Ed25519 cells")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "STATE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        asyncio.set_event_loop(asyncio.new_event_loop())
        data.run_sink(int(args.sink[0]), Path(args.sink[1]))
        return
    size = args.size or (2000 if args.quick else 10000)
    plan = Plan(
        size=size,
        baseline_size=args.baseline_size or min(size, 5000),
        dkim_size=args.dkim_size or (1000 if args.quick else 5000),
        large=args.large if args.large is not None else (6000 if args.quick else 50000),
        dual=not args.no_dual,
        backends=args.backends.split(","),
        command=" ".join(["python -m bench.campaign", *sys.argv[1:]]),
    )
    cells, baselines, versions = run(plan)
    text = report(plan, cells, baselines, versions)
    print(text)
    (PROJECT / "bench" / "RESULTS.md").write_text(text)


if __name__ == "__main__":
    main()
