-- wrk's script for the HTTP benchmark (benchmarks/http-wrk.ts runs it): POSTs the body in the file
-- WRK_BODY with the headers in WRK_HEADERS (one "Name: value" a line), counts every reply that is
-- not a 200 whose body is its JSON header (Inference-Header-Content-Length) plus WRK_OUTPUT_BYTES
-- of binary output, and prints one line of JSON after "RESULT " when done.
local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
for name, value in os.getenv("WRK_HEADERS"):gmatch("([^:\n]+): ([^\n]*)") do wrk.headers[name] = value end
local output_bytes = tonumber(os.getenv("WRK_OUTPUT_BYTES"))

bad = 0
function response(status, headers, body)
  local json = tonumber(headers["inference-header-content-length"] or headers["Inference-Header-Content-Length"])
  if status ~= 200 or json == nil or #body ~= json + output_bytes then bad = bad + 1 end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency)
  local bad_replies = 0
  for _, thread in ipairs(threads) do bad_replies = bad_replies + thread:get("bad") end
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"us":%d,"errors":%d,"bad":%d,"p50":%d,"p99":%d}\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, bad_replies, latency:percentile(50), latency:percentile(99)))
end
