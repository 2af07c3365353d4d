-- Linearizable (default) or serializable (BENCH_SERIALIZABLE=1) single-key range on one
-- existing key: BENCH_KEY, "bench/key" by default. The request is built once, on first
-- use (wrk knows the Host header only then).
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local key = os.getenv("BENCH_KEY") or "bench/key"
local serializable = os.getenv("BENCH_SERIALIZABLE") == "1"
local body

function request()
  body = body or common.range(key, serializable)
  return body
end

response = common.response
