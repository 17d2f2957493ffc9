-- GET-by-id over random ids from ids.txt (written by bench/run.py).
local ids = {}
local prefix = os.getenv("BENCH_PREFIX") or ""
local token = os.getenv("BENCH_TOKEN") or ""
for line in io.lines(os.getenv("BENCH_IDS") or "bench/results/ids.txt") do ids[#ids + 1] = line end
math.randomseed(os.time())
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", prefix .. "/records/" .. id, {["Authorization"] = "Bearer " .. token})
end
