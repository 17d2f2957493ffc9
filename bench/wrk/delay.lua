-- A plain GET of the URL given, each connection waiting BENCH_DELAY_MS between requests:
-- the offered load is about connections × 1000 / (delay + latency) req/s (bench/gateway.py).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
delay = function()
  return pause
end
