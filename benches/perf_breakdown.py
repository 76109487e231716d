#!/usr/bin/env python3
"""Where the server's time goes: reads `perf script` output (samples with call stacks) on stdin
and charges every sample to the first part of torrow-hooks found walking up from the leaf.

    perf script -i perf.data | python3 benches/perf_breakdown.py

benches/profile.sh records perf.data and runs this; see BENCHMARKS.md ("Profile")."""

import re
import sys
from collections import Counter

# (part, pattern) in order; the first pattern matching a frame, leaf upwards, wins.
PARTS = [
    ("dedup hash (BLAKE3 of the body)", r"blake3|sha2::"),
    ("render (Tera + locale)", r"tera::|torrow_hooks::render"),
    ("parse the event (serde)", r"torrow_hooks::event|CaseActionEvent|serde_json::de|serde_core::de"),
    ("outbox (SQLite + sqlx)", r"sqlite3|sqlx|flume|libsqlite"),
    ("logs (tracing JSON)", r"tracing_subscriber|tracing_core"),
    ("Wappi call (reqwest client)", r"reqwest|hyper_util::client|hyper::client|torrow_hooks::channel::wappi"),
    ("HTTP server (hyper + warp)", r"hyper::proto|hyper::server|warp::|torrow_hooks::http"),
    ("rest of torrow-hooks", r"torrow_hooks::"),
    ("tokio runtime (scheduling, timers, I/O driver)", r"tokio::|mio::"),
]
COMPILED = [(name, re.compile(p)) for name, p in PARTS]


def part_of(stack):
    for frame in stack:
        for name, pattern in COMPILED:
            if pattern.search(frame):
                return name
    return "other (kernel, libc, threads waking)"


def samples(lines):
    stack = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield stack
            stack = []
        elif line.startswith((" ", "\t")):
            stack.append(line.strip())
    if stack:
        yield stack


counts = Counter(part_of(s) for s in samples(sys.stdin))
total = sum(counts.values()) or 1
print(f"| Part | Share of server CPU |\n|---|---|")
for name, n in counts.most_common():
    print(f"| {name} | {100 * n / total:.1f} % |")
print(f"\n{total} samples")
