-- GET-by-id at a paced rate: get.lua's requests, and each connection waits BENCH_DELAY_MS
-- between them, so the offered load is about connections × 1000 / (delay + latency) req/s.
dofile("bench/wrk/get.lua")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
delay = function()
  return pause
end
