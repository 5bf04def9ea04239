-- wrk script: POST one review to /v1/classify; each thread stops after
-- REQUESTS_PER_THREAD answers, so a run sends a fixed number of requests.
wrk.method = "POST"
wrk.path = "/v1/classify"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"documents": [{"id": "load", "text": ' ..
  '"I went in expecting very little. The first half hour drags, and the dialogue is clumsy in places. ' ..
  'But the last act is superb: the two leads are wonderful together and the ending moved me. ' ..
  'The music is lovely, the camera work is patient, and the small town feels real. ' ..
  'It is not perfect, yet I would happily watch it again. One of the best surprises of the year."}]}'

-- wrk runs for its whole -d even when every thread has stopped, so each
-- thread times its own first request and last answer (CLOCK_MONOTONIC via
-- LuaJIT's ffi) and done() prints the span: "elapsed SECONDS ANSWERED FAILED".
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } han_timespec;
  int clock_gettime(int clock, han_timespec* out);
]]
local function now()
  local t = ffi.new("han_timespec")
  ffi.C.clock_gettime(1, t)
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) * 1e-9
end

local limit = tonumber(os.getenv("REQUESTS_PER_THREAD") or "2500")
local threads = {}
answered, failed, started, finished = 0, 0, 0, 0  -- globals: done() reads them per thread

function setup(thread) table.insert(threads, thread) end

function request()
  if started == 0 then started = now() end
  return wrk.format()
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then failed = failed + 1 end
  if answered == limit then
    finished = now()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local first, last, total, bad = math.huge, 0, 0, 0
  for _, t in ipairs(threads) do
    if t:get("finished") == 0 then
      io.write("elapsed incomplete: raise wrk's -d\n")
      return
    end
    first = math.min(first, t:get("started"))
    last = math.max(last, t:get("finished"))
    total = total + t:get("answered")
    bad = bad + t:get("failed")
  end
  io.write(string.format("elapsed %.3f %d %d\n", last - first, total, bad))
end
