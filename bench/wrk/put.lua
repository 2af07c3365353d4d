-- Unique keys per request: "bench/<thread>/<counter>", 256-byte values, JSON body.
-- With BENCH_KEYS=n, a fixed key set instead: "bench/fixed/<0..n-1>", picked at random.
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

-- With BENCH_TOKEN set, it goes in the Authorization header (auth enabled).
local headers = { ["Content-Type"] = "application/json" }
if os.getenv("BENCH_TOKEN") then headers["Authorization"] = os.getenv("BENCH_TOKEN") end

local value = base64(string.rep("v", 256))
local fixed_keys = tonumber(os.getenv("BENCH_KEYS") or "0")
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local key
  if fixed_keys > 0 then
    key = base64(string.format("bench/fixed/%d", math.random(0, fixed_keys - 1)))
  else
    key = base64(string.format("bench/%d/%d/%d", thread_id, math.random(1, 1000000000), counter))
  end
  return wrk.format("POST", "/v3/kv/put", headers,
    '{"key":"' .. key .. '","value":"' .. value .. '"}')
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
