-- claim.lua - concurrent claimers: POST /api/v1/tasks/claim with a new
-- agent name per request until no task is left.
--
-- Each thread counts its "claimed" answers and remembers the task ids;
-- it stops once its connections have seen as many 404 no_ready_task
-- answers as it has connections (a claim answered just before the first
-- 404 is not lost).  done() merges the threads: the claims, the time from
-- the first request to the last claimed answer, and any task id that was
-- handed out twice.
local B = dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local threads = {}

-- per thread
claimed, none, errors, n = 0, 0, 0, 0
ids = {}
t_start, t_last = 0, 0
first_error = ""

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

local headers, conns, stopped

function init(args)
   wrk.method = "POST"
   headers = B.headers({["Content-Type"] = "application/json"})
   conns = B.conns_per_thread()
   t_start = B.now_us()
   t_last = t_start
end

function request()
   n = n + 1
   return wrk.format("POST", "/api/v1/tasks/claim", headers,
                     string.format('{"agent":"bench-%d-%d",' ..
                                   '"lease_seconds":600}', tid, n))
end

function response(status, hdrs, body)
   if status == 200 and body:find('"outcome":"claimed"', 1, true) then
      claimed = claimed + 1
      ids[claimed] = tonumber(body:match('"task":{"id":(%d+)')) or -1
      t_last = B.now_us()
   elseif status == 404 and body:find("no_ready_task", 1, true) then
      none = none + 1
   else
      errors = errors + 1
      if first_error == "" then
         first_error = status .. " " .. body:sub(1, 300)
      end
   end
   if not stopped and none > 0 and none + errors >= conns then
      stopped = true
      B.finish(tid)
   end
end

function done(summary, latency, requests)
   local total, nn, err, t0, t1 = 0, 0, 0, nil, nil
   local seen, dups, ndup = {}, {}, 0
   local first = ""
   for _, t in ipairs(threads) do
      total = total + t:get("claimed")
      nn = nn + t:get("none")
      err = err + t:get("errors")
      local s, l = t:get("t_start"), t:get("t_last")
      if t0 == nil or s < t0 then t0 = s end
      if t1 == nil or l > t1 then t1 = l end
      if first == "" then first = t:get("first_error") end
      for _, id in ipairs(t:get("ids")) do
         if seen[id] then
            ndup = ndup + 1
            if #dups < 10 then table.insert(dups, tostring(id)) end
         end
         seen[id] = true
      end
   end
   io.write(string.format("BENCH-CLAIM claimed=%d none=%d errors=%d " ..
                          "elapsed_us=%d duplicates=%d dup_ids=%s\n",
                          total, nn, err, t1 - t0, ndup,
                          #dups > 0 and table.concat(dups, ",") or "-"))
   if first ~= "" then
      io.write("BENCH-CLAIM-ERROR " .. first:gsub("\n", " ") .. "\n")
   end
   B.report(summary)
end
