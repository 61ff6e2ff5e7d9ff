(function () {
  "use strict";
  var LABELS = $labels;
  var counts = $counts;
  var list = document.getElementById("messages");
  var filters = document.getElementById("filters");
  var live = document.getElementById("live");
  var lastId = parseInt(list.getAttribute("data-last-id"), 10) || 0;
  var selected = "";

  function total() {
    var n = 0; for (var k in counts) { n += counts[k]; } return n;
  }
  function applyFilter() {
    var cards = list.children;
    for (var i = 0; i < cards.length; i++) {
      var p = cards[i].getAttribute("data-platform");
      cards[i].hidden = !!selected && p !== selected;
    }
    document.getElementById("empty").hidden = total() > 0;
  }
  // the buttons are kept and updated in place: redrawn every second, a button replaced
  // between a press and its release would swallow the click
  var buttons = {};
  function button(value) {
    var b = document.createElement("button");
    b.type = "button";
    b.setAttribute("data-platform", value);
    b.addEventListener("click", function () { selected = value; drawFilters(); applyFilter(); });
    return b;
  }
  function drawFilters() {
    var keys = [""].concat(Object.keys(counts).sort());
    keys.forEach(function (p, i) {
      var b = buttons[p] || (buttons[p] = button(p));
      var n = p === "" ? total() : counts[p];
      var text = (p === "" ? "All" : (LABELS[p] || p)) + " (" + n + ")";
      if (b.textContent !== text) { b.textContent = text; }
      var on = p === selected ? "on" : "";
      if (b.className !== on) { b.className = on; }
      if (filters.children[i] !== b) { filters.insertBefore(b, filters.children[i] || null); }
    });
    Object.keys(buttons).forEach(function (p) {
      if (keys.indexOf(p) < 0) { filters.removeChild(buttons[p]); delete buttons[p]; }
    });
  }
  function poll() {
    fetch("api/messages?after=" + lastId, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        if (data.total < list.children.length) { list.textContent = ""; lastId = 0; }
        var fresh = data.messages.slice().reverse();  // oldest first, each goes on top
        fresh.forEach(function (m) {
          if (m.id > lastId) { list.insertAdjacentHTML("afterbegin", m.html); lastId = m.id; }
        });
        counts = data.counts;
        var dropped = document.getElementById("dropped"), note = data.dropped_note;
        if (dropped.textContent !== note) { dropped.textContent = note; }
        dropped.hidden = !note;
        drawFilters(); applyFilter();
        live.textContent = "live";
      })
      .catch(function () { live.textContent = "offline"; })
      .then(function () { setTimeout(poll, 1000); });
  }
  document.getElementById("clear").addEventListener("click", function () {
    fetch("api/messages", {method: "DELETE", credentials: "same-origin"}).then(function () {
      list.textContent = ""; lastId = 0; counts = {};
      document.getElementById("dropped").hidden = true;
      drawFilters(); applyFilter();
    });
  });
  drawFilters(); applyFilter();
  setTimeout(poll, 1000);
})();
