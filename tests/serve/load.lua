-- wrk script of the afx serve load test (tests/serve/test_load.py):
--   wrk -s load.lua URL   with AFX_BODY (request body file), AFX_QUERY (query string), AFX_EXPECT (expected
--   response body file, "" for none).
-- Every response is checked: 200 with exactly the expected body (the features of the clip), or 429.
-- done() prints one line "AFXLOAD {json}" with the counts over all threads and the latency percentiles.
local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local body = slurp(os.getenv("AFX_BODY"))
local expect_path = os.getenv("AFX_EXPECT") or ""
local expect = expect_path ~= "" and slurp(expect_path) or nil
local query = os.getenv("AFX_QUERY") or ""

wrk.method = "POST"
wrk.body = body
wrk.path = "/v1/features" .. (query ~= "" and ("?" .. query) or "")
wrk.headers["Content-Type"] = "application/octet-stream"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, wrong, throttled, other = 0, 0, 0, 0
end

function response(status, headers, resp_body)
  if status == 200 then
    if expect == nil or resp_body == expect then ok = ok + 1 else wrong = wrong + 1 end
  elseif status == 429 then
    throttled = throttled + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local t = {ok = 0, wrong = 0, throttled = 0, other = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  local e = summary.errors
  io.write(string.format(
    'AFXLOAD {"requests": %d, "ok": %d, "wrong": %d, "throttled": %d, "other": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, t.ok, t.wrong, t.throttled, t.other, e.connect, e.read, e.write, e.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
