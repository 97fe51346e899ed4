-- wrk script used by bench/crud.py for every run.
--
-- The request is configured through environment variables so that one script
-- serves all systems and endpoints:
--   BENCH_METHOD  HTTP method (default GET)
--   BENCH_AUTH    full value of the Authorization header ("Bearer <jwt>" or "<jwt>");
--                 empty/unset = no Authorization header
--   BENCH_BODY    request body; when set, Content-Type: application/json is sent
--
-- done() prints one line "BENCH_JSON {...}" with the summary that crud.py parses
-- (latencies in microseconds). summary.errors.status is wrk's count of responses
-- with status >= 400; crud.py probes every endpoint once beforehand to make sure
-- it answers 2xx, so a 3xx cannot go unnoticed.

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.headers["Accept"] = "application/json"

local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d," ..
    "\"err_connect\":%d,\"err_read\":%d,\"err_write\":%d,\"err_status\":%d,\"err_timeout\":%d," ..
    "\"lat_mean_us\":%.1f,\"lat_max_us\":%d,\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"p999_us\":%d}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max,
    latency:percentile(50.0), latency:percentile(90.0),
    latency:percentile(99.0), latency:percentile(99.9)))
end
