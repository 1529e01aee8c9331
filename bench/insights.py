"""The click redirect under load and the campaign click report at a million clicks.

    .venv/bin/python -m bench.insights [--backends sqlite,postgresql] [--seconds 10]
                                       [--connections 50] [--threads 2] [--runs 30] [--rounds 3]
                                       [--quick]

Per backend (SQLite; PostgreSQL as a throw-away cluster, as bench/load.py makes it): a
fresh database migrated and seeded with the app's own commands, the app under gunicorn
(`-w 2`, `wsgi:app`, production profile, rate limits off) and the bare app of
bench/bare_app.py beside it.

1. The redirect: a campaign with 20 links in each language; wrk (50 connections) sends
   `GET /r/<token>` spread over its 40 tokens (signed with the server's key), next to the
   bare app's `GET /redirect` (a 302, nothing else) and `GET /redirect/count` (a 302
   after one upsert and commit of a (link, day) counter row). Afterwards the counters in
   the database are summed against the 302 answers.
2. The report: campaigns whose `link_click_days` rows sum to over a million clicks
   (40 links x 2 languages x 365 days; 100 x 2 x 1,095 days), written by the app's
   own click write (which keeps the link totals and campaign days beside them), then
   `campaign_insights.click_report` timed in process and the staff page
   `GET /staff/campaigns/<public_id>` over HTTP with a staff session.

Writes bench/RESULTS-insights.md. Not a test: nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench import load_data as data  # noqa: E402
from bench.bare_app import COUNTERS  # noqa: E402
from bench.load import Server, with_database  # noqa: E402
from bench.wrk import Outcome, run_wrk, write_lines, wrk_path  # noqa: E402

REDIRECT_LINKS = 20  # per language
# (links per language, days, lowest and highest clicks of a (link, day) row)
SHAPES = [(40, 365, 10, 60), (100, 1095, 1, 9)]
GOAL_RATIO = 0.6
GOAL_P99_MS = 100.0
GOAL_REPORT_MS = 200.0
CONSENTAPP = "consentapp GET /r/<token>"
PER_CLICK = "consentapp GET /r/<token>, a write per click (CLICK_FLUSH_SECONDS=0)"


@dataclass
class Campaign:
    public_id: str
    link_ids: list[int]
    tokens: list[str] = field(default_factory=list)


@dataclass
class Timing:
    backend: str
    what: str
    shape: str
    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def p95(self) -> float:
        ordered = sorted(self.runs)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class Load:
    backend: str
    endpoint: str
    outcome: Outcome
    counted: int | None = None

    @property
    def redirects(self) -> int:
        """3xx answers: neither 2xx nor an error status (wrk counts >= 400 as errors)."""
        return self.outcome.requests - self.outcome.ok - self.outcome.status_errors


def quiet_app(env: dict[str, str]) -> Any:
    from consentapp import create_app
    from consentapp.config import load_config

    logger = logging.getLogger("consentapp")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the production warnings of an app made for the bench
    try:
        return create_app(load_config(environ=env))
    finally:
        logger.setLevel(level)


def make_campaign(links: int, tag: str) -> Campaign:
    """A draft with `links` addresses in each language's Markdown body, made by the
    app's own services (inside an app context), and its link rows."""
    from consentapp.extensions import db
    from consentapp.models import StaffUser, Topic
    from consentapp.services.campaign_drafts import create_campaign
    from consentapp.services.campaign_links import CampaignLinks, link_token

    staff = db.session.scalars(
        sa.select(StaffUser).where(StaffUser.email == data.STAFF_EMAIL)
    ).one()
    topic = db.session.scalars(sa.select(Topic).where(Topic.slug == data.TOPIC)).one()
    urls = [f"https://example.org/{tag}/page-{number}?utm_source=news" for number in range(links)]
    body = "\n".join(f"- [Page {number}]({url})" for number, url in enumerate(urls))
    campaign = create_campaign(topic, f"Bench {tag}", body, f"Bench {tag}", body, staff)
    found = CampaignLinks(campaign)
    ids = [found.link(language, url).id for language in ("nl", "en") for url in urls]
    db.session.commit()
    return Campaign(campaign.public_id, ids, [link_token(link_id) for link_id in ids])


def fill_clicks(campaign: Campaign, days: int, low: int, high: int, seed: int) -> int:
    """A `link_click_days` row for every link and each of the last `days` days, random
    counts between `low` and `high`, written by the app's own click write (which keeps
    the link totals and campaign days the report reads); returns the clicks they sum to."""
    from consentapp.extensions import db
    from consentapp.services.click_tally import add_clicks

    chance = random.Random(seed)
    today = date.today()
    total = 0
    rows: dict[tuple[int, date], int] = {}
    for link_id in campaign.link_ids:
        for back in range(days):
            clicks = chance.randint(low, high)
            total += clicks
            rows[(link_id, today - timedelta(days=back))] = clicks
            if len(rows) >= 20_000:
                add_clicks(rows)
                rows = {}
    if rows:
        add_clicks(rows)
    db.session.commit()
    return total


def clicks_of(url: str, link_ids: list[int]) -> int:
    listed = ", ".join(str(link_id) for link_id in link_ids)
    return data.count_rows(
        url, f"SELECT coalesce(sum(clicks), 0) FROM link_click_days WHERE link_id IN ({listed})"
    )


def settled(read: Any, still: float = 0.5) -> int:
    """The count once it has not changed for `still` seconds: the requests wrk no longer
    waited for finish, and the workers write the clicks they hold (every
    CLICK_FLUSH_SECONDS, so `still` must be longer)."""
    last, since = read(), time.monotonic()
    for _ in range(200):
        time.sleep(0.25)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= still:
            break
    return int(last)


class Backend:
    def __init__(self, name: str, url: str, work: Path, args: argparse.Namespace) -> None:
        self.name, self.url, self.work, self.args = name, url, work, args
        self.env = data.environ_for(url, work / "instance", secrets.token_urlsafe(48))
        self.loads: list[Load] = []
        self.pairs: list[tuple[Outcome, Outcome]] = []  # (bare, consentapp) a round
        self.timings: list[Timing] = []
        self.fills: list[str] = []

    def measure(self) -> None:
        data.prepare(self.env, 0)  # db upgrade, seed, staff account
        engine = sa.create_engine(self.url)
        with engine.begin() as connection:
            connection.execute(sa.text(COUNTERS))
        engine.dispose()
        app = quiet_app(self.env)
        with app.app_context():
            redirect = make_campaign(REDIRECT_LINKS, "redirect")
            reports = []
            for number, (links, days, low, high) in enumerate(self.shapes()):
                started = time.perf_counter()
                campaign = make_campaign(links, f"report{number}")
                total = fill_clicks(campaign, days, low, high, seed=number)
                shape = f"{links} links x 2 languages x {days} days = {len(campaign.link_ids) * days:,} rows, {total:,} clicks"
                self.fills.append(f"{shape} (filled in {time.perf_counter() - started:.0f} s)")
                reports.append((campaign, shape))
            from consentapp.extensions import db

            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
            db.engine.dispose()
        print(f"{self.name}: " + "; ".join(self.fills), flush=True)
        bare_env = {**self.env, "BARE_SQLITE": "", "BARE_POSTGRES": ""}
        if self.name == "postgresql":
            bare_env["BARE_POSTGRES"] = data.conninfo(self.url)
        else:
            bare_env["BARE_SQLITE"] = self.url.removeprefix("sqlite:///")
        server = Server.start("wsgi:app", self.env, self.work / "app.log")
        try:
            bare = Server.start("bench.bare_app:create()", bare_env, self.work / "bare.log")
            try:
                self.redirects(server, bare, redirect)
            finally:
                bare.stop()
            shape = f"{REDIRECT_LINKS} links x 2 languages, the clicks of the redirect run (today)"
            self.reports(app, server, [(redirect, shape), *reports])
        finally:
            server.stop()

    def shapes(self) -> list[tuple[int, int, int, int]]:
        return SHAPES[:1] if self.args.quick else SHAPES

    def wrk(self, endpoint: str, server: Server, paths: list[str]) -> Load:
        lines = self.work / f"{len(self.loads)}.lines"
        write_lines(lines, [(path, "", "") for path in paths])
        outcome = run_wrk(
            server.url,
            "GET",
            lines,
            seconds=self.args.seconds,
            connections=self.args.connections,
            threads=self.args.threads,
            script=self.work / "requests.lua",
        )
        load = Load(self.name, endpoint, outcome)
        self.loads.append(load)
        print(
            f"  {self.name} {endpoint}: {outcome.rate:.0f} req/s, p50 {outcome.p50_ms:.1f} ms, "
            f"p99 {outcome.p99_ms:.1f} ms, 3xx {load.redirects}, errors "
            f"{outcome.status_errors + outcome.socket_errors}",
            flush=True,
        )
        return load

    def redirects(self, server: Server, bare: Server, campaign: Campaign) -> None:
        self.pair(1, server, bare, campaign)
        count = "SELECT coalesce(sum(clicks), 0) FROM bench_click_days"
        load = self.wrk(
            "bare GET /redirect/count (upsert + commit)",
            bare,
            [f"/redirect/count?link={number}" for number in range(len(campaign.link_ids))],
        )
        load.counted = settled(lambda: data.count_rows(self.url, count))
        # The same route with a token that fails its signature: no database, a 404 page.
        self.wrk("consentapp GET /r/<bad token> (404)", server, ["/r/7.not-signed"] * 4)
        # Every click written in its own request, as CLICK_FLUSH_SECONDS=0 has it.
        env = {**self.env, "CLICK_FLUSH_SECONDS": "0"}
        each = Server.start("wsgi:app", env, self.work / "app-each-click.log")
        try:
            self.clicks(PER_CLICK, each, campaign)
        finally:
            each.stop()
        for number in range(2, self.args.rounds + 1):
            self.pair(number, server, bare, campaign)

    def pair(self, number: int, server: Server, bare: Server, campaign: Campaign) -> None:
        """The bare redirect and consentapp's right after it: one round of the ratio."""
        label = f" (round {number})" if number > 1 else ""
        plain = self.wrk(f"bare GET /redirect{label}", bare, ["/redirect"] * 4)
        mine = self.clicks(f"{CONSENTAPP}{label}", server, campaign)
        self.pairs.append((plain.outcome, mine.outcome))

    def clicks(self, endpoint: str, server: Server, campaign: Campaign) -> Load:
        """wrk over the campaign's links, and what the counters gained meanwhile."""
        for token in campaign.tokens:  # each worker reads the targets once, before the clock
            for _ in range(4):
                data.get(server.port, f"/r/{token}")
        # Clicks are held by the workers until their next write: wait for it each time.
        still = 2.5 * float(self.env.get("CLICK_FLUSH_SECONDS") or 1)
        before = settled(lambda: clicks_of(self.url, campaign.link_ids), still)
        load = self.wrk(endpoint, server, [f"/r/{t}" for t in campaign.tokens])
        load.counted = settled(lambda: clicks_of(self.url, campaign.link_ids), still) - before
        return load

    def reports(self, app: Any, server: Server, reports: list[tuple[Campaign, str]]) -> None:
        from consentapp.extensions import db
        from consentapp.models import Campaign as CampaignRow
        from consentapp.services.campaign_insights import click_report

        cookie = data.staff_cookie(server.port)
        runs = self.args.runs
        for campaign, shape in reports:
            with app.app_context():
                found = db.session.scalars(
                    sa.select(CampaignRow).where(CampaignRow.public_id == campaign.public_id)
                ).one()
                click_report(found)  # warm
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    click_report(found)
                    times.append((time.perf_counter() - started) * 1000)
                db.engine.dispose()
            self.timings.append(Timing(self.name, "click_report()", shape, times))
            path = f"/staff/campaigns/{campaign.public_id}"
            for _ in range(4):  # both workers
                status, _, _ = data.get(server.port, path, cookie)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                data.get(server.port, path, cookie)
                times.append((time.perf_counter() - started) * 1000)
            self.timings.append(Timing(self.name, "GET /staff/campaigns/<id>", shape, times))
            print(
                f"  {self.name} report {shape}: "
                + ", ".join(f"{t.what} median {t.median:.0f} ms" for t in self.timings[-2:]),
                flush=True,
            )


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def summary(backend: Backend) -> str:
    """The backend's line of the goal table: the ratio of each round, their median."""
    ratios = [mine.rate / bare.rate if bare.rate else 0.0 for bare, mine in backend.pairs]
    middle = statistics.median(ratios)
    worst = max(mine.p99_ms for _, mine in backend.pairs)
    met = middle >= GOAL_RATIO and worst < GOAL_P99_MS
    rows = {row.endpoint.split(" (")[0]: row.outcome for row in backend.loads}
    each, upsert = rows[PER_CLICK.split(" (")[0]], rows["bare GET /redirect/count"]
    return (
        f"| {backend.name} | {', '.join(f'{ratio:.2f}' for ratio in ratios)} | {middle:.2f} "
        f"| {worst:.1f} ms | {verdict(met)} | {each.rate / upsert.rate if upsert.rate else 0:.2f} |"
    )


def report(args: argparse.Namespace, backends: list[Backend], versions: list[str]) -> str:
    wrk = subprocess.run(
        [wrk_path() or "wrk", "--version"], capture_output=True, text=True, check=False
    )
    load = os.getloadavg()
    quick = " --quick" if args.quick else ""
    lines = [
        "# Link clicks: the redirect under load, the report at a million clicks",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} at the end; {', '.join(versions)} (PostgreSQL a throw-away cluster with "
        f"fsync off); {wrk.stdout.split(' Copyright')[0].strip()}. The load client, the servers "
        "and the database share the cores.",
        "",
        f"Command: `.venv/bin/python -m bench.insights --backends {args.backends} --seconds "
        f"{args.seconds} --connections {args.connections} --threads {args.threads} --runs "
        f"{args.runs} --rounds {args.rounds}{quick}` (also `make bench`).",
        "",
        "## The redirect `GET /r/<token>`",
        "",
        f"gunicorn `-w 2` (sync workers) serves `wsgi:app` (production profile, rate limits "
        f"off) and `bench/bare_app.py`; wrk {args.connections} connections, {args.threads} "
        f"threads, {args.seconds} s a run. consentapp's requests are spread over the "
        f"{2 * REDIRECT_LINKS} links of one campaign (each worker had read their targets "
        "before the clock started); the bare counter over as many counter rows. Goal: "
        f"consentapp ≥ {GOAL_RATIO}x the bare redirect's req/s, p99 < {GOAL_P99_MS:.0f} ms.",
        "",
        "| backend | endpoint | req/s | p50 ms | p99 ms | 302 answers | errors | counted in the database |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    every = [row for backend in backends for row in backend.loads]
    for row in every:
        o = row.outcome
        counted = "-"
        if row.counted is not None:
            unanswered = o.built - o.requests
            counted = (
                f"{row.counted:,} (302s + {unanswered:,} unanswered at the end = "
                f"{row.redirects + unanswered:,})"
            )
        lines.append(
            f"| {row.backend} | {row.endpoint} | {o.rate:,.0f} | {o.p50_ms:.1f} | {o.p99_ms:.1f} "
            f"| {row.redirects:,} | {o.status_errors + o.socket_errors:,} | {counted} |"
        )
    lines += [
        "",
        "| backend | consentapp / bare redirect, each round | median | consentapp p99, highest | goal | a write per click / bare redirect + upsert |",
        "|---|---|---:|---:|---|---:|",
    ]
    lines += [summary(backend) for backend in backends]
    lines += [
        "",
        "How to read: req/s is completed answers per second over the run, p50 and p99 "
        "wrk's latency percentiles (with 50 connections on 2 sync workers mostly queueing). "
        "302 answers are the answers neither 2xx nor an error status; errors count error "
        "statuses (the bad token's 404s) and socket errors. Counted is what the counter rows "
        "gained during the run, read once the workers had written the clicks they held: it "
        "should be the 302s plus the requests still unanswered when wrk's time ran out (the "
        "server finishes them), so a lost count would show as a shortfall. The ratio is "
        "taken in rounds, the bare redirect and consentapp's right after it, "
        f"{args.rounds} times: the goal holds when the median of the rounds reaches it and "
        "no round's p99 misses it, so that one noisy run on a shared machine decides "
        "nothing either way.",
        "",
        "consentapp adds clicks up in each worker and writes them once a second "
        "(`CLICK_FLUSH_SECONDS=1`, the default; see `consentapp/services/click_tally.py`): "
        "a click is in the report up to a second later, and a worker killed outright loses "
        "its last second of clicks. The bare `/redirect/count` writes each one before "
        "answering; the run with `CLICK_FLUSH_SECONDS=0` does the same in consentapp, and "
        "the last column compares those two. The bad-token run is the same route refusing "
        "the token with the site's 404 page: no database work, but a whole page rendered.",
        "",
        "## The click report",
        "",
        f"`campaign_insights.click_report(campaign)` in process, and the whole staff page "
        f"`GET /staff/campaigns/<public_id>` over HTTP from the gunicorn server with a staff "
        f"session (one request at a time, the server otherwise idle), {args.runs} runs each "
        f"after a warm-up. Goal: < {GOAL_REPORT_MS:.0f} ms.",
        "",
        "| backend | data | timed | median ms | p95 ms | goal |",
        "|---|---|---|---:|---:|---|",
    ]
    lines += [
        f"| {t.backend} | {t.shape} | {t.what} | {t.median:.0f} | {t.p95:.0f} "
        f"| {verdict(t.p95 < GOAL_REPORT_MS)} |"
        for backend in backends
        for t in backend.timings
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=int, help="seconds a wrk run (10; 3 with --quick)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, help="timed runs of the report (30; 10 with --quick)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of bare redirect then consentapp (3)"
    )
    parser.add_argument("--quick", action="store_true", help="a short run: one report shape")
    args = parser.parse_args()
    args.seconds = args.seconds or (3 if args.quick else 10)
    args.runs = args.runs or (10 if args.quick else 30)
    if wrk_path() is None:
        raise SystemExit("bench.insights needs wrk: apt-get install wrk (make bench installs it)")
    backends: list[Backend] = []
    versions: list[str] = []
    with tempfile.TemporaryDirectory(prefix="consentapp-insights-") as tmp:
        for name in [part.strip() for part in args.backends.split(",") if part.strip()]:
            work = Path(tmp) / name
            work.mkdir()

            def measure(url: str, name: str = name, work: Path = work) -> None:
                backend = Backend(name, url, work, args)
                backends.append(backend)
                backend.measure()

            versions.append(with_database(name, work, measure))
    text = report(args, backends, versions)
    print(text)
    (PROJECT / "bench" / "RESULTS-insights.md").write_text(text)


if __name__ == "__main__":
    main()
