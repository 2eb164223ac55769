-- wrk script: POST /v1/score with card tokens (never PANs), one of 1,000 synthetic cards per request.
-- Used by benchmarks/bench_service.py; the latency distribution is printed by done() as JSON.
local counter = 0
local mccs = {"5411", "5812", "5967", "4829", "5732", "7995"}
local countries = {"US", "GB", "DE", "FR", "NL", "JP"}

request = function()
  counter = counter + 1
  local card = counter % 1000
  local body = string.format(
    '{"transaction_id":"bench-%d","amount":%d.%02d,"currency":"USD",' ..
    '"card_token":"bench_card_%04d","merchant_id":"m-%d","merchant_category_code":"%s",' ..
    '"merchant_country":"%s","billing_country":"%s","ip_country":"%s",' ..
    '"card_present":%s,"timestamp":"2024-06-01T12:%02d:00Z","account_age_days":%d}',
    counter, (counter * 7) % 900 + 1, counter % 100, card, counter % 50,
    mccs[counter % #mccs + 1], countries[counter % #countries + 1],
    countries[math.floor(counter / 3) % #countries + 1], countries[math.floor(counter / 7) % #countries + 1],
    (counter % 2 == 0) and "true" or "false", counter % 60, counter % 3000)
  return wrk.format("POST", "/v1/score", {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"errors_status":%d,"errors_connect":%d,' ..
    '"errors_read":%d,"errors_write":%d,"errors_timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
