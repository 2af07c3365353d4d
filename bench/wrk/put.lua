-- Unique keys per request: "bench/<thread>/<counter>", 256-byte values, JSON body.
-- With BENCH_KEYS=n, a fixed key set instead: "bench/fixed/<0..n-1>", picked at random.
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

local fixed_keys = tonumber(os.getenv("BENCH_KEYS") or "0")
local counter = 0
local threads = {}
-- A global: thread:set() sets globals in each thread's own interpreter (a local of the
-- same name would hide it, and every thread would then make the same keys).
thread_id = 0

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  if fixed_keys > 0 then
    return common.put(string.format("bench/fixed/%d", math.random(0, fixed_keys - 1)))
  end
  return common.put(string.format("bench/%d/%d/%d", thread_id, math.random(1, 1000000000), counter))
end

response = common.response
