"""The load client of bench/load.py: wrk, driven by a Lua script that takes each request
from a prepared file (one line per request: path, body and cookie, tab-separated), so
every request can carry its own token, address or session.

Each wrk thread takes every n-th line of the file (thread 0 lines 0, 2, 4, ... with two
threads), so no two threads send the same line; a thread that has sent all its lines
starts again at its first and counts the repeats. `response()` counts the 2xx answers
per thread (each thread has its own Lua state), and `done()` adds the threads' counts
up and prints one JSON line with them, the requests per second and the latency
percentiles (wrk's `summary`, `latency` and `errors`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

USER_AGENT = "consentapp-bench/1.0"
MARKER = "WRKJSON "

LUA = r"""
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  method = args[1]
  local nthreads = tonumber(args[3])
  entries = {}
  local n = 0
  for line in io.lines(args[2]) do
    if n % nthreads == id then
      local path, body, cookie = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
      table.insert(entries, {path = path, body = body, cookie = cookie})
    end
    n = n + 1
  end
  position = 0
  built = 0
  repeated = 0
  ok = 0
end

function request()
  position = position + 1
  if position > #entries then
    position = 1
  end
  built = built + 1
  if built > #entries then
    repeated = repeated + 1
  end
  local entry = entries[position]
  local headers = {["User-Agent"] = "@AGENT@"}
  if entry.cookie ~= "" then
    headers["Cookie"] = entry.cookie
  end
  local body = nil
  if method == "POST" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = entry.body
  end
  return wrk.format(method, entry.path, headers, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  end
end

function done(summary, latency, requests)
  local ok_total, built_total, repeated_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    built_total = built_total + thread:get("built")
    repeated_total = repeated_total + thread:get("repeated")
  end
  local errors = summary.errors
  io.write(string.format(
    '@MARKER@{"requests": %d, "seconds": %.6f, "ok": %d, "status_errors": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "built": %d, ' ..
    '"repeated": %d, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, ok_total, errors.status,
    errors.connect, errors.read, errors.write, errors.timeout, built_total,
    repeated_total, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
""".replace("@AGENT@", USER_AGENT).replace("@MARKER@", MARKER)


@dataclass(frozen=True)
class Outcome:
    """What one wrk run measured."""

    requests: int
    seconds: float
    ok: int
    status_errors: int
    socket_errors: int
    built: int
    repeated: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def not_2xx(self) -> int:
        """Answers that came back but were not 2xx (3xx included)."""
        return self.requests - self.ok


def wrk_path() -> str | None:
    return shutil.which("wrk")


def write_lines(path: Path, entries: list[tuple[str, str, str]]) -> None:
    """The request file: path, form body and Cookie header of each request."""
    for entry in entries:
        assert not any("\t" in part or "\n" in part for part in entry), entry
    path.write_text("".join(f"{p}\t{b}\t{c}\n" for p, b, c in entries))


def run_wrk(
    base_url: str,
    method: str,
    lines: Path,
    *,
    seconds: int,
    connections: int,
    threads: int,
    script: Path,
) -> Outcome:
    """One wrk run against `base_url` with the requests in `lines`."""
    binary = wrk_path()
    if binary is None:
        raise SystemExit("bench.load needs wrk: apt-get install wrk (make bench installs it)")
    script.write_text(LUA)
    completed = subprocess.run(
        [
            binary,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            base_url,
            "--",
            method,
            str(lines),
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 120,
    )
    found = [line for line in completed.stdout.splitlines() if line.startswith(MARKER)]
    if completed.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr[-2000:]}")
    data = json.loads(found[-1][len(MARKER) :])
    return Outcome(
        requests=int(data["requests"]),
        seconds=float(data["seconds"]),
        ok=int(data["ok"]),
        status_errors=int(data["status_errors"]),
        socket_errors=sum(int(data[key]) for key in ("connect", "read", "write", "timeout")),
        built=int(data["built"]),
        repeated=int(data["repeated"]),
        p50_ms=float(data["p50_ms"]),
        p99_ms=float(data["p99_ms"]),
        max_ms=float(data["max_ms"]),
    )
