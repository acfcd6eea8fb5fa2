-- common.lua - helpers shared by the benchmark's wrk scripts (loaded with
-- dofile from $BENCH_DIR).  wrk runs LuaJIT, so the clock comes from
-- clock_gettime through the FFI.
--
-- Environment (set by run.sh):
--   BENCH_TOKEN        API token, sent as "Authorization: Bearer ..."
--   BENCH_STATE        a private directory for the threads' end markers
--   BENCH_WRK_THREADS  wrk's -t
--   BENCH_CONNS        wrk's -c

local ffi = require("ffi")

pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *tp);
int getpid(void);
long syscall(long number, ...);
]])

local B = {}

local ts = ffi.new("bench_timespec")

-- Monotonic clock, microseconds.
function B.now_us()
   ffi.C.clock_gettime(1, ts)          -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

function B.env_num(name, default)
   local v = tonumber(os.getenv(name) or "")
   if v == nil then return default end
   return v
end

-- The headers every request carries (the same for hello and colibrid so
-- both receive requests of the same size).
function B.headers(extra)
   local h = {}
   local token = os.getenv("BENCH_TOKEN")
   if token and token ~= "" then
      h["Authorization"] = "Bearer " .. token
   end
   for k, v in pairs(extra or {}) do h[k] = v end
   return h
end

-- True for the call wrk makes to request() before the run, on its main
-- thread, to check the request (script_verify_request): that request is
-- never sent, so it must not be counted.
function B.is_verify_call()
   return ffi.C.syscall(186) == ffi.C.getpid()     -- gettid() == getpid()
end

-- Connections this wrk thread drives (wrk splits -c evenly over -t).
function B.conns_per_thread()
   local t = B.env_num("BENCH_WRK_THREADS", 1)
   local c = B.env_num("BENCH_CONNS", 1)
   return math.floor(c / t)
end

local function exists(path)
   local f = io.open(path, "r")
   if f then f:close() return true end
   return false
end

-- Stops the calling wrk thread.  wrk itself would sleep out the whole -d;
-- the last thread to finish interrupts wrk's main thread (SIGINT to the
-- thread whose id is the pid), which then joins the threads and calls
-- done() at once.
local finished = false

function B.finish(tid)
   if finished then return end
   finished = true
   local dir = os.getenv("BENCH_STATE")
   local n = B.env_num("BENCH_WRK_THREADS", 1)
   wrk.thread:stop()
   if dir == nil or dir == "" then return end
   local f = io.open(dir .. "/thread-done." .. tid, "w")
   if f then f:write("done\n") f:close() end
   for i = 1, n do
      if not exists(dir .. "/thread-done." .. i) then return end
   end
   local pid = ffi.C.getpid()
   -- tgkill(pid, pid, SIGINT): only wrk's main thread sleeps in sleep(3)
   ffi.C.syscall(234, ffi.cast("long", pid), ffi.cast("long", pid),
                 ffi.cast("long", 2))
end

-- One machine-readable line with wrk's summary, for run.sh.
function B.report(summary)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.1f status_errors=%d " ..
      "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
      summary.requests, summary.duration,
      summary.requests / (summary.duration / 1e6),
      e.status, e.connect, e.read, e.write, e.timeout))
end

return B
