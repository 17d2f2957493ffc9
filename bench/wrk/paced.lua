-- GET-by-id at a paced rate: each connection waits BENCH_DELAY_MS between requests, so
-- the offered load is about connections × 1000 / (delay + latency) requests/s.
local ids = {}
local prefix = os.getenv("BENCH_PREFIX") or ""
local token = os.getenv("BENCH_TOKEN") or ""
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
for line in io.lines(os.getenv("BENCH_IDS") or "bench/results/ids.txt") do ids[#ids + 1] = line end
math.randomseed(os.time())
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", prefix .. "/records/" .. id, {["Authorization"] = "Bearer " .. token})
end
delay = function()
  return pause
end
