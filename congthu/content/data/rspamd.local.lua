-- Công Thư's rule for rspamd (install as $LOCAL_CONFDIR/rspamd.local.lua, e.g.
-- /etc/rspamd/rspamd.local.lua). Công Thư checks SPF (RFC 7208), DKIM (RFC 6376) and
-- DMARC (RFC 7489) itself and sends its results with each /checkv2 request in the
-- headers X-CongThu-SPF, X-CongThu-DKIM and X-CongThu-DMARC (congthu/content/rspamd.py);
-- this rule turns them into symbols with scores, so rspamd need not repeat the lookups
-- (its spf, dkim and dmarc modules may then be disabled).

local scores = {
  CONGTHU_SPF_PASS = -0.5, CONGTHU_SPF_FAIL = 2.0, CONGTHU_SPF_SOFTFAIL = 0.5,
  CONGTHU_DKIM_PASS = -0.5, CONGTHU_DKIM_FAIL = 1.0,
  CONGTHU_DMARC_PASS = -0.5, CONGTHU_DMARC_FAIL = 3.0,
}
local headers = { ['X-CongThu-SPF'] = 'SPF', ['X-CongThu-DKIM'] = 'DKIM', ['X-CongThu-DMARC'] = 'DMARC' }

local id = rspamd_config:register_symbol({
  name = 'CONGTHU_AUTH',
  type = 'callback',
  callback = function(task)
    for header, method in pairs(headers) do
      local value = task:get_request_header(header)
      if value then
        -- "pass", "fail", or a list "pass,fail" for DKIM: each result counts once.
        local seen = {}
        for result in tostring(value):lower():gmatch('%a+') do
          local name = 'CONGTHU_' .. method .. '_' .. result:upper()
          if scores[name] and not seen[name] then
            seen[name] = true
            task:insert_result(name, 1.0, result)
          end
        end
      end
    end
  end,
})

for name, score in pairs(scores) do
  rspamd_config:register_symbol({ name = name, type = 'virtual', parent = id, score = score, group = 'congthu' })
end
