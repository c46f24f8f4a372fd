-- wrk script for the relay's hand-off: POST one body per line of a file, each line once per
-- thread in turn (lines are dealt round-robin to the threads, so no two threads send the same
-- order), and print a one-line JSON summary ("WRK_JSON {...}") with the status counts and the
-- latency percentiles in milliseconds.
--
-- wrk -t T -c C -d 30s -s handoff.lua URL -- BODIES_FILE PACE_MS THREADS [START_LINE [PACING]]
--   BODIES_FILE  hand-off bodies, one JSON document per line ("" : an empty JSON object)
--   PACE_MS      > 0: each connection waits this long before each request (a fixed rate of
--                about C * 1000 / PACE_MS per second, for the "half of saturation" run)
--   THREADS      the same T as -t (how the lines are dealt)
--   START_LINE   skip about this many lines first (a later run continuing where one stopped)
--   PACING       "fixed" (default): every pause is PACE_MS. "random": each pause is drawn from
--                an exponential distribution of mean PACE_MS, so that, while idle, each
--                connection sends as an independent shopper would (a Poisson process). With
--                fixed pauses, connections answered by the same group commit wait the same
--                time and come back together, in step.

local threads = {}
local next_index = 0

function setup(thread)
  thread:set("thread_index", next_index)
  next_index = next_index + 1
  table.insert(threads, thread)
end

-- The bodies are read from the file as they are sent, a line at a time, not loaded into a
-- table first: a table of a million bodies (about 1.5 GB of Lua strings) made each thread's
-- garbage collector pause for hundreds of milliseconds, with the answers waiting unread in
-- the sockets meanwhile. That alone gave even the ceiling (a server doing nothing) a p99.9 of
-- 311 ms instead of 25 ms, and 9 % fewer requests per second, in 20 s at 512 connections.
local file = nil
local thread_count = 1
local fallback = "{}"
wrapped = 0
statuses = {}
local post_headers = { ["Content-Type"] = "application/json" }

-- Reads and drops `n` lines; false at the end of the file.
local function skip(n)
  for _ = 1, n do
    if file:read("*l") == nil then
      return false
    end
  end
  return true
end

-- From the top of the file, to this thread's first line (lines are dealt round-robin).
local function rewind()
  file:seek("set", 0)
  skip(thread_index)
end

-- This thread's next body; at the end of the file, starts again from the top (counted in
-- `wrapped`: the server then sees orders it has stored already).
local function next_body()
  if file == nil then
    return fallback
  end
  local line = file:read("*l")
  if line == nil then
    wrapped = wrapped + 1
    rewind()
    line = file:read("*l")
    if line == nil then
      return fallback
    end
  end
  skip(thread_count - 1)
  return line
end

function init(args)
  local path = args[1] or ""
  local pace = tonumber(args[2] or "0") or 0
  thread_count = tonumber(args[3] or "1") or 1
  local start_line = tonumber(args[4] or "0") or 0
  local pacing = args[5] or "fixed"
  if path ~= "" then
    file = assert(io.open(path, "r"))
    rewind()
    -- Continue about where an earlier run stopped: this thread's share of `start_line`.
    if not skip(math.floor(start_line / thread_count) * thread_count) then
      rewind()
    end
  end
  if pace > 0 and pacing == "random" then
    math.randomseed(os.time() * 1000 + thread_index)
    delay = function() return math.floor(-math.log(1 - math.random()) * pace + 0.5) end
  elseif pace > 0 then
    -- wrk looks for delay() after init: defining it only when pacing keeps the
    -- saturation run free of timer overhead.
    delay = function() return pace end
  end
end

function request()
  return wrk.format("POST", nil, post_headers, next_body())
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  local wraps = 0
  for _, thread in ipairs(threads) do
    local thread_statuses = thread:get("statuses")
    for key, n in pairs(thread_statuses) do
      counts[key] = (counts[key] or 0) + n
    end
    wraps = wraps + (thread:get("wrapped") or 0)
  end
  local parts = {}
  for key, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%s":%d', key, n)
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"statuses":{%s},' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"bodies_wrapped":%d,' ..
    '"latency_ms":{"mean":%.3f,"p50":%.3f,"p90":%.3f,"p99":%.3f,"p99_9":%.3f,"max":%.3f}}\n',
    summary.requests, seconds, summary.requests / seconds, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout, wraps,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
