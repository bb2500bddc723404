-- bench/http.py's wrk script: cycles through a fixed request list, then prints one JSON line.
--
--   wrk -s bench/wrk.lua URL -- LIST_FILE TOKEN
--
-- Each line of LIST_FILE is METHOD \t PATH \t AUTH (1: send the token) \t IF_MATCH \t BODY.
-- wrk threads take every n-th line (disjoint objects per thread). A PATCH sends the ETag the
-- last answer for that object gave (its ETag names the object: "c12-v7"), else IF_MATCH.

local lines, etags = {}, {}
local position, token = 0, nil
local threads = {}
failure = ""

-- Runs in the main Lua state: numbers the threads (thread_index becomes a global of each).
function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  token = args[2]
  local thread_count = tonumber(args[3]) or 1
  for line in io.lines(args[1]) do
    local method, path, auth, if_match, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method then
      table.insert(lines, {method = method, path = path, auth = auth == "1", if_match = if_match,
        body = body ~= "" and body or nil})
    end
  end
  local mine = {}
  for i, line in ipairs(lines) do
    if (i - 1) % thread_count == (thread_index or 0) then table.insert(mine, line) end
  end
  if #mine > 0 then lines = mine end
end

function request()
  position = position % #lines + 1
  local line = lines[position]
  local headers = {}
  if line.auth then headers["Authorization"] = "Bearer " .. token end
  if line.body then headers["Content-Type"] = "application/json" end
  if line.if_match ~= "" then
    local id = line.path:match("(%d+)$")
    headers["If-Match"] = etags[id] or line.if_match
  end
  return wrk.format(line.method, line.path, headers, line.body)
end

function response(status, headers, body)
  if status >= 400 and failure == "" then
    failure = status .. " " .. body:sub(1, 200):gsub("[\r\n\"\\]", " ")
  end
  local etag = headers["ETag"] or headers["etag"]
  if etag then
    local id = etag:match("^\"%a+(%d+)%-v%d+\"$")
    if id then etags[id] = etag end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  local failures = ""
  for _, thread in ipairs(threads) do
    local sample = thread:get("failure")
    if sample and sample ~= "" then failures = sample end
  end
  io.write(string.format(
    "BENCH {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, " ..
    "\"non_2xx\": %d, \"socket_errors\": %d, \"timeouts\": %d, \"failure\": \"%s\"}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write, errors.timeout, failures))
end
