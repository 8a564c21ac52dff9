-- wrk script of the afx serve benchmark (bench/serve/run_bench.py): POSTs the file AFX_BODY to /v1/features
-- and prints one line "AFXBENCH {json}". No response() callback, so wrk does not copy every response into
-- Lua (the load generator shares the machine with the servers); non-2xx answers count as errors.status.
local f = assert(io.open(os.getenv("AFX_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "/v1/features"
wrk.headers["Content-Type"] = "application/octet-stream"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'AFXBENCH {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    e.connect + e.read + e.write + e.timeout + e.status))
end
