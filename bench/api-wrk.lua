-- wrk's script for bench/api.sh -l wrk: POST the body of WRK_BODY with
-- Content-Type application/json and the headers of WRK_HEADERS (lines of
-- "Key: value"), and print a summary as apiload does:
--   {"rps": ..., "requests": ..., "seconds": ..., "errors": ...}
-- errors counts connect, read, write and timeout errors and answers that
-- are not 2xx or 3xx.
--
--   WRK_BODY='{"name":"Ada"}' WRK_HEADERS='Connect-Protocol-Version: 1' \
--     wrk -t 2 -c 16 -d 2s -s bench/api-wrk.lua http://127.0.0.1:8080/greeter.v1.Greeter/Hello
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local key, value = line:match("^%s*([^:]+):%s*(.-)%s*$")
  if key then
    wrk.headers[key] = value
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format('{"rps": %.1f, "requests": %d, "seconds": %.3f, "errors": %d}\n',
    summary.requests / seconds, summary.requests, seconds,
    e.connect + e.read + e.write + e.timeout + e.status))
end
