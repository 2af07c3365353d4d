-- A read-mostly mix over the pre-filled fixed key set "bench/fixed/<0..BENCH_KEYS-1>":
-- 90% linearizable single-key ranges, 10% puts of 256-byte values, keys picked at random.
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local keys = tonumber(os.getenv("BENCH_KEYS") or "1000")

function request()
  local key = string.format("bench/fixed/%d", math.random(0, keys - 1))
  if math.random(1, 10) == 1 then
    return common.put(key)
  end
  return common.range(key, false)
end

response = common.response
