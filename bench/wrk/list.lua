-- List with an indexed equality filter on data.score (1,000 distinct values => ~100 rows each).
local prefix = os.getenv("BENCH_PREFIX") or ""
local token = os.getenv("BENCH_TOKEN") or ""
local floor = os.getenv("BENCH_FLOOR") == "1"
math.randomseed(os.time())
request = function()
  local score = math.random(0, 999)
  local path
  if floor then
    path = prefix .. "/records?score=" .. score
  else
    path = prefix .. "/records?filter=score%20eq%20" .. score
  end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
