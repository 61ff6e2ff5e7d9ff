"""The inbox's one page: self-contained (inline CSS and script, nothing from the network),
newest message first, a filter by platform with counts, and a poll of
``/api/messages?after=<last id>`` every second that inserts the server-rendered cards of new
messages. The script inserts only HTML the server made (``erralert.inbox.show``) and builds
the filter with ``textContent``; a per-response nonce in the Content-Security-Policy keeps
any script but its own from running.
"""

from __future__ import annotations

import json

from erralert.inbox.markup import esc
from erralert.inbox.show import LABELS

__all__ = ["content_security_policy", "dropped_note", "page_html"]


def content_security_policy(nonce: str) -> str:
    """The page's CSP: its own nonce'd script, inline styles (colour bars), same-origin
    fetches, nothing else."""
    return (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; "
        "style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def page_html(
    cards: str, counts: dict[str, int], last_id: int, nonce: str, dropped: str = ""
) -> str:
    """The whole page, with the cards already rendered (the page works without script);
    ``dropped``: the note that older messages were dropped (``dropped_note``), if any."""
    labels = json.dumps(LABELS).replace("<", "\\u003c")
    initial = json.dumps(counts).replace("<", "\\u003c")
    total = sum(counts.values())
    return _PAGE.format(
        cards=cards,
        total=total,
        last_id=int(last_id),
        nonce=esc(nonce),
        labels=labels,
        counts=initial,
        empty_hidden=" hidden" if total else "",
        dropped=esc(dropped),
        dropped_hidden="" if dropped else " hidden",
    )


def dropped_note(dropped: int, max_messages: int, max_bytes: int) -> str:
    """What the page says when the store dropped messages to stay within its bounds."""
    if not dropped:
        return ""
    older = "older message was" if dropped == 1 else "older messages were"
    return (
        f"{dropped} {older} dropped: the inbox keeps the newest {max_messages} messages "
        f"and {max_bytes / 1_000_000:g} MB (erralert inbox --max-messages, --max-mb)."
    )


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>erralert inbox</title>
<style>
:root {{ --bg:#f4f5f7; --fg:#1d1c1d; --muted:#616061; --card:#fff; --line:#e1e1e1; }}
* {{ box-sizing:border-box; }}
body {{
  margin:0;
  font-size:14px; line-height:1.45;
  font-family:-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",
    sans-serif;
  background:var(--bg);
  color:var(--fg);
}}
header.top {{
  position:sticky;
  top:0;
  z-index:2;
  background:#1d1c1d;
  color:#fff;
  padding:10px 18px;
  display:flex;
  gap:12px;
  align-items:center;
  flex-wrap:wrap;
}}
header.top h1 {{ font-size:16px; margin:0 12px 0 0; }}
#filters button, #clear {{
  border:1px solid #555;
  background:#2c2c2c;
  color:#eee;
  border-radius:14px;
  padding:3px 10px;
  cursor:pointer;
  font-size:12px;
}}
#filters button.on {{ background:#fff; color:#111; }}
#clear {{ margin-left:auto; }}
#live {{ font-size:12px; color:#9be39b; }}
main {{ max-width:880px; margin:16px auto; padding:0 12px; }}
#empty {{ color:var(--muted); text-align:center; padding:40px; }}
.msg {{
  background:var(--card);
  border:1px solid var(--line);
  border-radius:8px;
  margin:0 0 14px;
  padding:10px 14px;
  box-shadow:0 1px 2px rgba(0,0,0,.04);
}}
.msg > header {{
  display:flex;
  gap:6px;
  align-items:center;
  flex-wrap:wrap;
  font-size:12px;
  color:var(--muted);
  margin-bottom:8px;
}}
.msg > header time {{ margin-left:auto; }}
.msg .path {{ width:100%; font-size:11px; color:#8a8a8a; overflow-wrap:anywhere; }}
.badge {{
  border-radius:10px;
  padding:1px 8px;
  font-weight:600;
  font-size:11px;
  background:#eee;
  color:#333;
}}
.kind-alert {{ background:#fde2e8; color:#a3123d; }}
.kind-digest {{ background:#fdf1d3; color:#8a6100; }}
.kind-storm {{ background:#ede4fd; color:#5521b5; }}
.badge.refused {{ background:#b3261e; color:#fff; }}
.badge.status {{ background:#e3f4e8; color:#1f6b3a; }}
.is-refused {{ border-color:#e8a19b; }}
.refusal {{
  background:#fdecea;
  color:#8c1d18;
  border-radius:6px;
  padding:6px 10px;
  margin-bottom:8px;
  font-weight:600;
}}
.body {{ overflow-wrap:anywhere; }}
.body pre {{
  background:#f6f6f6;
  border:1px solid #e5e5e5;
  border-radius:4px;
  padding:8px;
  overflow-x:auto;
  white-space:pre-wrap;
  font-size:12px;
}}
.body code {{ background:#f1f1f1; border-radius:3px; padding:0 3px; font-size:12px; }}
.body p {{ margin:4px 0; }} .body ul, .body ol {{ margin:4px 0; padding-left:22px; }}
.body blockquote {{ margin:4px 0; padding-left:10px; border-left:3px solid #ccc; color:#444; }}
.body hr {{ border:0; border-top:1px solid var(--line); margin:8px 0; }}
.mrkdwn, .tg-text, .plain {{ white-space:pre-wrap; }}
.h {{ font-weight:700; margin:6px 0 4px; }}
.h3 {{ font-size:17px; }}
.h4 {{ font-size:15px; }}
.h5, .h6 {{ font-size:14px; }}
.bar {{ border-left:4px solid #ccc; padding:4px 10px; margin:6px 0; border-radius:2px; }}
.fields {{ display:grid; grid-template-columns:1fr 1fr; gap:6px 14px; margin:6px 0; }}
.fields.three {{ grid-template-columns:1fr 1fr 1fr; }} .fields .wide {{ grid-column:1 / -1; }}
.context {{ font-size:12px; color:var(--muted); }}
.mention {{
  background:#e8f0fe;
  color:#1264a3;
  border-radius:4px;
  padding:0 4px;
  font-weight:600;
}}
.pings {{ margin-top:6px; font-size:12px; color:var(--muted); }}
.spoiler {{ background:#333; color:#333; border-radius:3px; }} .spoiler:hover {{ color:#fff; }}
.note {{ font-size:12px; color:#8a6100; }}
.button {{ display:inline-block; border:1px solid #ccc; border-radius:4px; padding:2px 10px; }}
/* a row of link buttons (Slack actions, Teams actions, Chat buttonList, Feishu action,
   Telegram keyboard rows, DingTalk actionCard, Rocket.Chat actions); a column if vertical */
.buttons {{ display:flex; flex-wrap:wrap; gap:6px; margin:8px 0 2px; }}
.buttons.vertical {{ flex-direction:column; align-items:stretch; }}
.buttons a {{ text-decoration:none; color:#1264a3; }}
.buttons .button {{ background:#fff; font-weight:600; font-size:13px; }}
.buttons.vertical .button {{ display:block; text-align:center; }}
details summary {{ cursor:pointer; font-size:12px; color:var(--muted); margin-top:8px; }}
details pre {{
  background:#1e1e1e;
  color:#d4d4d4;
  padding:8px;
  border-radius:4px;
  overflow:auto;
  font-size:12px;
  max-height:400px;
}}
table.facts {{ border-collapse:collapse; margin:4px 0; }}
table.facts th {{
  text-align:left;
  padding:2px 12px 2px 0;
  color:var(--muted);
  font-weight:600;
  vertical-align:top;
}}
/* Slack */
.p-slack .sl-header {{ font-size:17px; font-weight:800; margin:2px 0 6px; }}
.p-slack .sl-section {{ margin:4px 0; }}
/* Discord */
.p-discord .body {{ background:#313338; color:#dbdee1; border-radius:6px; padding:8px 10px; }}
.p-discord .bar {{ background:#2b2d31; border-radius:4px; }}
.p-discord .em-title {{ font-weight:700; color:#fff; margin:2px 0; }}
.p-discord .body pre, .p-discord .body code {{
  background:#1e1f22;
  border-color:#1e1f22;
  color:#dbdee1;
}}
.p-discord .context {{ color:#b5bac1; }}
/* Teams */
.ac-card {{ border:1px solid #e1dfdd; border-radius:6px; padding:10px 12px; }}
.ac-text {{ margin-top:8px; }} .ac-text.tight {{ margin-top:0; }} .ac-text p {{ margin:0; }}
.size-s {{ font-size:12px; }}
.size-l {{ font-size:16px; }}
.size-xl {{ font-size:20px; }}
.size-xxl {{ font-size:24px; }}
.bold {{ font-weight:700; }} .mono {{ font-family:Consolas,monospace; font-size:12px; }}
.color-attention {{ color:#c4314b; }}
.color-warning {{ color:#b15d00; }}
.color-good {{ color:#237b4b; }}
.color-accent {{ color:#4f52b2; }}
.ac-cols {{ display:flex; gap:12px; }} .ac-col {{ flex:1; }}
/* Google Chat */
.gc-card {{ border:1px solid #dadce0; border-radius:8px; overflow:hidden; }}
.gc-header {{ padding:10px 14px; border-bottom:1px solid #dadce0; }}
.gc-title {{ font-size:16px; font-weight:500; }}
.gc-subtitle {{ color:#5f6368; font-size:12px; }}
.gc-section {{ padding:8px 14px; }}
/* Feishu / Lark */
.fs-card {{ border:1px solid #dee0e3; border-radius:8px; overflow:hidden; }}
.fs-div, .fs-note {{ padding:4px 12px; }}
.fs-header {{ color:#fff; padding:10px 12px; font-weight:700; font-size:15px; }}
.fs-blue {{ background:#3370ff; }}
.fs-wathet {{ background:#4ea8de; }}
.fs-turquoise {{ background:#2bb5a0; }}
.fs-green {{ background:#34a853; }}
.fs-yellow {{ background:#dc9b04; }}
.fs-orange {{ background:#f07c2e; }}
.fs-red {{ background:#f54a45; }}
.fs-carmine {{ background:#c42b64; }}
.fs-violet {{ background:#9f6ff1; }}
.fs-purple {{ background:#7f3bf5; }}
.fs-indigo {{ background:#4954e6; }}
.fs-grey {{ background:#8f959e; }}
.dt-title {{ font-weight:700; }}
</style>
</head>
<body>
<header class="top">
  <h1>erralert inbox</h1>
  <div id="filters" role="toolbar" aria-label="platform filter"></div>
  <span id="live">live</span>
  <button id="clear" type="button">Clear</button>
</header>
<main>
  <div id="empty"{empty_hidden}>No messages yet. Point erralert at this inbox, e.g.
  <code>slack+http://127.0.0.1:8025/services/T/B/X</code>.</div>
  <div id="dropped" class="note"{dropped_hidden}>{dropped}</div>
  <div id="messages" data-last-id="{last_id}">{cards}</div>
</main>
<script nonce="{nonce}">
(function () {{
  "use strict";
  var LABELS = {labels};
  var counts = {counts};
  var list = document.getElementById("messages");
  var filters = document.getElementById("filters");
  var live = document.getElementById("live");
  var lastId = parseInt(list.getAttribute("data-last-id"), 10) || 0;
  var selected = "";

  function total() {{
    var n = 0; for (var k in counts) {{ n += counts[k]; }} return n;
  }}
  function applyFilter() {{
    var cards = list.children;
    for (var i = 0; i < cards.length; i++) {{
      var p = cards[i].getAttribute("data-platform");
      cards[i].hidden = !!selected && p !== selected;
    }}
    document.getElementById("empty").hidden = total() > 0;
  }}
  // the buttons are kept and updated in place: redrawn every second, a button replaced
  // between a press and its release would swallow the click
  var buttons = {{}};
  function button(value) {{
    var b = document.createElement("button");
    b.type = "button";
    b.setAttribute("data-platform", value);
    b.addEventListener("click", function () {{ selected = value; drawFilters(); applyFilter(); }});
    return b;
  }}
  function drawFilters() {{
    var keys = [""].concat(Object.keys(counts).sort());
    keys.forEach(function (p, i) {{
      var b = buttons[p] || (buttons[p] = button(p));
      var n = p === "" ? total() : counts[p];
      var text = (p === "" ? "All" : (LABELS[p] || p)) + " (" + n + ")";
      if (b.textContent !== text) {{ b.textContent = text; }}
      var on = p === selected ? "on" : "";
      if (b.className !== on) {{ b.className = on; }}
      if (filters.children[i] !== b) {{ filters.insertBefore(b, filters.children[i] || null); }}
    }});
    Object.keys(buttons).forEach(function (p) {{
      if (keys.indexOf(p) < 0) {{ filters.removeChild(buttons[p]); delete buttons[p]; }}
    }});
  }}
  function poll() {{
    fetch("api/messages?after=" + lastId, {{credentials: "same-origin", cache: "no-store"}})
      .then(function (r) {{ if (!r.ok) {{ throw new Error(r.status); }} return r.json(); }})
      .then(function (data) {{
        if (data.total < list.children.length) {{ list.textContent = ""; lastId = 0; }}
        var fresh = data.messages.slice().reverse();  // oldest first, each goes on top
        fresh.forEach(function (m) {{
          if (m.id > lastId) {{ list.insertAdjacentHTML("afterbegin", m.html); lastId = m.id; }}
        }});
        counts = data.counts;
        var dropped = document.getElementById("dropped"), note = data.dropped_note;
        if (dropped.textContent !== note) {{ dropped.textContent = note; }}
        dropped.hidden = !note;
        drawFilters(); applyFilter();
        live.textContent = "live";
      }})
      .catch(function () {{ live.textContent = "offline"; }})
      .then(function () {{ setTimeout(poll, 1000); }});
  }}
  document.getElementById("clear").addEventListener("click", function () {{
    fetch("api/messages", {{method: "DELETE", credentials: "same-origin"}}).then(function () {{
      list.textContent = ""; lastId = 0; counts = {{}};
      document.getElementById("dropped").hidden = true;
      drawFilters(); applyFilter();
    }});
  }});
  drawFilters(); applyFilter();
  setTimeout(poll, 1000);
}})();
</script>
</body>
</html>
"""
