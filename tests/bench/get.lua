-- get.lua - GET one task, over and over: the read benchmark, and (with
-- the same request) the baseline against the bare MHD server.
--   wrk -s get.lua http://127.0.0.1:PORT/api/v1/tasks/ID
local B = dofile(os.getenv("BENCH_DIR") .. "/common.lua")

wrk.method = "GET"
wrk.headers = B.headers()

function done(summary, latency, requests)
   B.report(summary)
end
