-- What the bench scripts share; each loads it with dofile from its own directory.
local common = {}
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

function common.base64(data)
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
common.headers = { ["Content-Type"] = "application/json" }
if os.getenv("BENCH_TOKEN") then common.headers["Authorization"] = os.getenv("BENCH_TOKEN") end

-- A put body (256-byte value) and a single-key range body, for a key not yet encoded.
local value = common.base64(string.rep("v", 256))
function common.put(key)
  return wrk.format("POST", "/v3/kv/put", common.headers,
    '{"key":"' .. common.base64(key) .. '","value":"' .. value .. '"}')
end

function common.range(key, serializable)
  return wrk.format("POST", "/v3/kv/range", common.headers,
    '{"key":"' .. common.base64(key) .. '"' .. (serializable and ',"serializable":true' or "") .. '}')
end

-- Any answer but 200 goes to stderr, where the harness counts it as a failure.
function common.response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end

return common
