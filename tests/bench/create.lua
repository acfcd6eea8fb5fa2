-- create.lua - POST /api/v1/tasks.
--
-- Without BENCH_QUOTA: the durable-write benchmark, for wrk's -d.
-- With BENCH_QUOTA=N: creates exactly N tasks (split over the wrk threads)
-- as fast as it can, then stops; done() prints "BENCH-CREATE created=..".
local B = dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local threads = {}
local sent, quota = 0, nil
local post, idle

-- per thread, read by done()
created, failed, idle_answers = 0, 0, 0

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

function init(args)
   local total = B.env_num("BENCH_QUOTA", nil)
   local n = B.env_num("BENCH_WRK_THREADS", 1)
   post = wrk.format("POST", wrk.path,
                     B.headers({["Content-Type"] = "application/json"}),
                     '{"title":"bench task","priority":2}')
   if total then
      quota = math.floor(total / n)
      if tid <= total % n then quota = quota + 1 end
      -- Once a thread has sent its quota its connections idle on a cheap
      -- request until every POST has been answered.
      idle = wrk.format("GET", "/api/v1/health", B.headers())
   end
end

local checked = false

function request()
   if not checked then
      checked = true
      if B.is_verify_call() then return post end
   end
   if quota == nil or sent < quota then
      sent = sent + 1
      return post
   end
   return idle
end

if B.env_num("BENCH_QUOTA", nil) then
   function response(status, headers, body)
      if status == 201 then
         created = created + 1
      elseif status >= 400 then
         failed = failed + 1
      else
         idle_answers = idle_answers + 1
      end
      -- (the second test is a safety net: it should never be needed)
      if created + failed >= quota or idle_answers > 200000 then
         B.finish(tid)
      end
   end
end

function done(summary, latency, requests)
   if B.env_num("BENCH_QUOTA", nil) then
      local c, f = 0, 0
      for _, t in ipairs(threads) do
         c = c + t:get("created")
         f = f + t:get("failed")
      end
      io.write(string.format("BENCH-CREATE created=%d failed=%d " ..
                             "duration_us=%d\n", c, f, summary.duration))
   end
   B.report(summary)
end
