-- Create a record per request.
local prefix = os.getenv("BENCH_PREFIX") or ""
local token = os.getenv("BENCH_TOKEN") or ""
local n = 0
request = function()
  n = n + 1
  local body = '{"data":{"email":"bench' .. n .. '-' .. math.random(1, 1000000000) .. '@example.com","score":' .. (n % 1000) .. '}}'
  return wrk.format("POST", prefix .. "/records",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
