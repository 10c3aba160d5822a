-- wrk script of the benchmark: cycles through the space-separated paths of
-- BENCH_PATHS with method BENCH_METHOD, header Authorization BENCH_AUTH and,
-- for a POST, the body in file BENCH_BODY_FILE; prints one JSON line at the
-- end (requests, seconds, non-2xx answers, closed-loop latency percentiles).
local paths, i = {}, 0
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/", "%S+") do
	paths[#paths + 1] = p
end
local method = os.getenv("BENCH_METHOD") or "GET"
local body = nil
local file = os.getenv("BENCH_BODY_FILE")
if file and file ~= "" then
	local f = assert(io.open(file, "rb"))
	body = f:read("*a")
	f:close()
end
local headers = { ["Authorization"] = os.getenv("BENCH_AUTH") }
if body then
	headers["Content-Type"] = "application/json"
end

request = function()
	i = i % #paths + 1
	return wrk.format(method, paths[i], headers, body)
end

done = function(summary, latency, requests)
	io.write(string.format(
		'{"requests": %d, "seconds": %.3f, "non2xx": %d, "errors": %d, "p50_ms": %.3f, "p99_ms": %.3f}\n',
		summary.requests, summary.duration / 1e6, summary.errors.status,
		summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
		latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
