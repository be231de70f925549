#!/usr/bin/env python3
"""Itemises a service's CPU profile by what the time was spent on.

Reads `perf script -F comm,ip,sym --no-inline` output of a `perf record --call-graph dwarf`
profile and gives each sample to the first frame, from the leaf up, that belongs to a known
part (logging, the outbox, SSE and JSON decoding, the HTTP/2 server, ...); socket I/O goes to
the part that called it. Prints a markdown table of shares and, given the process's CPU per
completion in ms, of milliseconds per completion.

    perf record -F 499 --call-graph dwarf,32768 -p <pid> -o gw.data -- sleep 12
    perf script -i gw.data -F comm,ip,sym --no-inline > gw.script
    benches/profile/categories.py gateway gw.script 0.495
"""
import collections
import re
import sys

rules_gw = [
 ("logging", r"tracing_subscriber::fmt|tracing_appender|NonBlocking"),
 ("metrics", r"prometheus_client|colloquy_gateway::metrics"),
 ("outbox (redb commit, fsync)", r"redb::|colloquy_outbox|fdatasync|sys_fsync"),
 ("SSE + JSON decoding, usage/identifier extraction", r"serde_json|colloquy_sse|colloquy_providers::adapters"),
 ("protobuf encode/decode", r"prost::|colloquy_proto::"),
 ("gRPC server: HTTP/2 framing and socket I/O", r"h2::|tonic::|hyper::server|hyper::proto::h2|hyper_util::server"),
 ("provider HTTP/1.1 client: request set-up, socket I/O", r"reqwest::|hyper::client|hyper_util::client|hyper::proto::h1"),
 ("record delivery to the store, admission", r"colloquy_gateway::ledger"),
 ("admission checks (keys, limits, budgets)", r"colloquy_gateway::(budgets|limits|keys)"),
 ("record building", r"colloquy_records|colloquy_gateway::turn"),
 ("spans (tracing bookkeeping)", r"tracing_core|tracing::span|tracing_subscriber::registry|tracing_opentelemetry"),
 ("pipeline (other gateway code)", r"colloquy_gateway::|colloquy_providers::"),
 ("Tokio runtime (scheduling, wake-ups, timers, epoll)", r"tokio::runtime::(?!io)|tokio::sync|tokio::time|tokio::task|mio::poll|epoll_wait"),
]
rules_store = [
 ("logging", r"tracing_subscriber::fmt|tracing_appender"),
 ("metrics", r"prometheus_client|colloquy_store::metrics"),
 ("SQLite engine (statements, B-tree, WAL, fsync)", r"sqlite3|libsqlite3|fdatasync|sys_fsync"),
 ("sqlx driver", r"sqlx"),
 ("sea-orm / sea-query (query building, rows)", r"sea_orm|sea_query"),
 ("fingerprint (SHA-256)", r"sha2|fingerprint"),
 ("protobuf decode/encode", r"prost::|colloquy_proto::"),
 ("gRPC server: HTTP/2 and socket I/O", r"h2::|tonic::|hyper::|hyper_util::"),
 ("validation and record conversion", r"colloquy_records|colloquy_store::grpc"),
 ("ingest (batching, rows, pricing, budgets)", r"colloquy_store::|colloquy_pricing"),
 ("Tokio runtime", r"tokio::runtime::(?!io)|tokio::sync|tokio::time|tokio::task|mio::poll|epoll_wait"),
]
rules = rules_gw if sys.argv[1] == "gateway" else rules_store
compiled = [(n, re.compile(p)) for n, p in rules]
counts = collections.Counter(); total = 0
socket = re.compile(r"tokio::runtime::io|tcp_sendmsg|tcp_recvmsg|writev|recvfrom")
client = re.compile(r"h2::client|tonic::client|tonic::transport::channel|hyper::client::conn::http2|tower::buffer|ConversationStoreClient")
def classify(frames):
    for f in frames:
        for n, p in compiled:
            if p.search(f):
                if n.startswith("gRPC server") and any(client.search(g) for g in frames):
                    return "gRPC client: records to the store, key and budget refreshes"
                return n
    if any(socket.search(f) for f in frames):
        return "socket I/O whose caller was cut off the stack"
    return "kernel and other (no owning frame)"
frames = []; comm = None
for line in open(sys.argv[2], errors="replace"):
    if not line.strip():
        if comm is not None:
            counts[classify(frames)] += 1; total += 1
        frames = []; comm = None; continue
    if not line.startswith("\t") and not line.startswith(" " * 5):
        comm = line.strip(); continue
    frames.append(line.strip())
if comm is not None:
    counts[classify(frames)] += 1; total += 1
per = float(sys.argv[3]) if len(sys.argv) > 3 else None
print(f"{total} samples")
for n, c in counts.most_common():
    share = c / total
    extra = f" | {share * per:.3f}" if per else ""
    print(f"| {n} | {share*100:.1f} %{extra} |")
