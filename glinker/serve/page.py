"""The server's HTML page (``GET /``): one self-contained document, no external resources.

The page posts the text to ``/render`` and shows the fragment it answers, so the browser view and
``glinker.link … output_format=html`` come from the same renderer (:mod:`glinker.render_html`).
"""

from __future__ import annotations

from glinker.render_html import STYLE

_BODY = """
<h1>glinker</h1>
<p class="hint">Entity linking over Wikidata. Type or paste text and press <b>Link</b> (Ctrl+Enter).
Hover a mention for its description, scores and candidates; dashed mentions are NIL (not in the knowledge base).</p>
<form id="form">
<textarea id="text" name="text" rows="6" placeholder="Arnold Schwarzenegger starred in The Terminator."></textarea>
<div class="row"><label>Labels <input id="labels" name="labels" placeholder="default (comma-separated)"></label>
<button id="link" type="submit">Link</button><span id="status" role="status"></span></div>
</form>
<div id="result"></div>
<script>
const form = document.getElementById("form"), text = document.getElementById("text");
const status = document.getElementById("status"), result = document.getElementById("result");
async function link(ev) {
  ev.preventDefault();
  const body = {text: text.value, candidates: 3};
  const labels = document.getElementById("labels").value.split(",").map(s => s.trim()).filter(Boolean);
  if (labels.length) body.labels = labels;
  status.textContent = "linking…";
  const started = performance.now();
  try {
    const res = await fetch("render", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify(body)});
    if (!res.ok) {
      const err = await res.json().catch(() => ({error: res.statusText}));
      status.textContent = "error " + res.status + ": " + err.error;
      return;
    }
    result.innerHTML = await res.text();  // escaped by the server's renderer
    const n = result.querySelectorAll("mark.ent").length;
    const ms = Math.round(performance.now() - started);
    status.textContent = n + " mention" + (n === 1 ? "" : "s") + " in " + ms + " ms";
  } catch (e) {
    status.textContent = "error: " + e;
  }
}
form.addEventListener("submit", link);
text.addEventListener("keydown", ev => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) link(ev); });
</script>
"""

PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>glinker</title><style>'
    "body{font:15px system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;background:#fafafa;color:#222}"
    "h1{font-size:22px;margin:0 0 .3em}.hint{color:#555;font-size:13px}"
    "textarea{width:100%;box-sizing:border-box;font:15px/1.5 system-ui,sans-serif;padding:.5em}"
    ".row{display:flex;gap:1em;align-items:center;margin:.5em 0 1em}.row input{width:18em}"
    "button{font-size:15px;padding:.3em 1.4em}#status{color:#555;font-size:13px}"
    + STYLE + "</style></head><body>" + _BODY + "</body></html>\n"
)
