-- Linearizable (default) or serializable single-key range on one existing key.
local serializable = os.getenv("BENCH_SERIALIZABLE") == "1"
local body = '{"key":"YmVuY2gva2V5"' .. (serializable and ',"serializable":true' or "") .. '}'

-- With BENCH_TOKEN set, it goes in the Authorization header (auth enabled).
local headers = { ["Content-Type"] = "application/json" }
if os.getenv("BENCH_TOKEN") then headers["Authorization"] = os.getenv("BENCH_TOKEN") end

function request()
  return wrk.format("POST", "/v3/kv/range", headers, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
