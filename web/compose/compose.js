// Smart Compose: ask the API for a continuation while someone types and show it as ghost text.
//
// The page is served under the API's endpoint ({endpoint}/), so predictions are a same-origin
// POST {endpoint}. Every request carries this page's X-Session-ID, so the API cancels the older
// request of the session when a newer keystroke asks (it answers 409, which we ignore); the page
// also aborts its own stale fetch. Suggestions stream as Server-Sent Events: one `data:` event per
// word, then `event: end` (or `event: error` with {error, request_id, hint}). The API's confidence
// gate sends a word only once nothing can take it back (two words later, or at the end; a repeat
// is cut before it is sent, a hidden suggestion sends none); a JSON answer with `shown: false` is
// likewise never shown.
"use strict";

(() => {
  const PAUSE_MS = 150;          // ask after this pause inside a word...
  const BOUNDARY = /[\s.,;:!?]$/; // ...and at once after a space or punctuation
  const FIRST_BYTE_TIMEOUT_MS = 20000; // never wait forever for an API that stopped answering

  const textarea = document.getElementById("text");
  const typedEl = document.getElementById("typed");
  const ghostEl = document.getElementById("ghost");
  const mirror = document.getElementById("mirror");
  const statusEl = document.getElementById("status");
  const latencyEl = document.getElementById("latency");

  const endpoint = location.pathname.replace(/\/[^/]*$/, "") || "/";
  const sessionId = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));

  // The current suggestion: the text it was asked for (`base`) and what has streamed in so far
  // (`full`). Whatever of base + full the person has not typed yet is the ghost text.
  let suggestion = null; // {base, full, done, keyAt, shownAt}
  let inflight = null;   // {controller} of the request whose answer is wanted
  let timer = 0;
  let lastKeyAt = 0;
  let ignored = 0; // requests a newer one of this session replaced (409 or a superseded stream)
  const latencies = []; // keystroke -> ghost text painted, ms
  const waits = [];     // of which: keystroke -> request sent (the pause before asking), ms

  function ghostText() {
    if (!suggestion) return "";
    const value = textarea.value;
    const whole = suggestion.base + suggestion.full;
    const atEnd = textarea.selectionStart === value.length && textarea.selectionEnd === value.length;
    if (!atEnd || !value.startsWith(suggestion.base) || !whole.startsWith(value)) return "";
    return whole.slice(value.length);
  }

  function render() {
    typedEl.textContent = textarea.value;
    ghostEl.textContent = ghostText();
    mirror.scrollTop = textarea.scrollTop;
  }

  function setStatus(text, problem = false) {
    statusEl.textContent = text;
    statusEl.classList.toggle("problem", problem);
  }

  function percentile(sorted, p) {
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  }

  function recordLatency(ms) {
    latencies.push(ms);
    const sorted = [...latencies].sort((a, b) => a - b);
    latencyEl.textContent = `suggestion in ${Math.round(ms)} ms · p50 ${Math.round(percentile(sorted, 0.5))} ms (${latencies.length})`;
  }

  function clearSuggestion() {
    suggestion = null;
    if (inflight) inflight.controller.abort();
    inflight = null;
    render();
  }

  function schedule() {
    clearTimeout(timer);
    const value = textarea.value;
    if (!value.trim()) return;
    timer = setTimeout(() => ask(value, lastKeyAt), BOUNDARY.test(value) ? 0 : PAUSE_MS);
  }

  // -- asking the API ---------------------------------------------------------------------------

  async function ask(text, keyAt) {
    if (textarea.value !== text) return; // typed on meanwhile: a newer ask is scheduled
    if (inflight) inflight.controller.abort();
    const mine = {controller: new AbortController()};
    inflight = mine;
    suggestion = {base: text, full: "", done: false, keyAt, askedAt: performance.now(), shownAt: 0};
    const current = () => inflight === mine;
    const timeout = setTimeout(() => mine.controller.abort("timeout"), FIRST_BYTE_TIMEOUT_MS);
    try {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: {"Content-Type": "application/json", "Accept": "text/event-stream", "X-Session-ID": sessionId},
        body: JSON.stringify({text}),
        signal: mine.controller.signal,
        cache: "no-store",
      });
      clearTimeout(timeout);
      if (!current()) return;
      if (!response.ok) return await answerError(response, current);
      setStatus("");
      if ((response.headers.get("content-type") || "").startsWith("text/event-stream")) {
        await readEvents(response, mine, current);
      } else {
        const answer = await response.json();
        if (answer.shown !== false) addPiece(mine, answer.completion || "", current); // the gate stopped it
      }
      if (current()) suggestion.done = true;
    } catch (err) {
      clearTimeout(timeout);
      if (mine.controller.signal.reason === "timeout" && current()) {
        setStatus("The suggestion API did not answer within 20 s; is it overloaded?", true);
      } else if (err.name !== "AbortError" && current()) {
        setStatus(`Cannot reach the suggestion API at ${location.origin}${endpoint}: it is down or not deployed (mlserve deploy).`, true);
        suggestion = null;
        render();
      }
    } finally {
      if (current()) inflight = null;
    }
  }

  async function answerError(response, current) {
    if (response.status === 409) { ignored++; return; } // superseded by a newer keystroke
    let body = {};
    try { body = await response.json(); } catch (_) { /* not our error shape */ }
    if (!current()) return;
    suggestion = null;
    render();
    if (response.status === 503) {
      const after = Number(response.headers.get("retry-after")) || 2;
      setStatus(`The model is still loading (${body.error || "503"}); suggestions start when it is ready.`, true);
      clearTimeout(timer);
      timer = setTimeout(() => { if (textarea.value.trim()) ask(textarea.value, performance.now()); }, after * 1000);
      return;
    }
    setStatus(`The API answered ${response.status}: ${body.error || response.statusText}` +
              (body.hint ? ` (${body.hint})` : ""), true);
  }

  async function readEvents(response, mine, current) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      if (!current()) { reader.cancel(); return; }
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + buffer.slice(cut).match(/^\r?\n\r?\n/)[0].length);
        const {name, data} = parseEvent(block);
        if (name === "end") return;
        if (name === "error") return streamError(data, current);
        addPiece(mine, data, current);
      }
    }
  }

  function parseEvent(block) {
    let name = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1); // SSE drops one space after the colon
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    return {name, data: data.join("\n")};
  }

  function streamError(data, current) {
    let body = {};
    try { body = JSON.parse(data); } catch (_) { /* keep the raw text */ }
    const message = body.error || data;
    if (/newer request/.test(message)) { ignored++; return; } // superseded mid-stream
    if (!current()) return;
    setStatus(`The suggestion failed: ${message}`, true);
  }

  function addPiece(mine, piece, current) {
    if (!current() || !piece) return;
    const hadGhost = ghostText() !== "";
    suggestion.full += piece;
    render();
    if (!hadGhost && ghostText() && !suggestion.shownAt) {
      // Measured once the ghost text is painted: the next frame after the DOM change.
      const keyAt = suggestion.keyAt;
      const s = suggestion;
      requestAnimationFrame(() => {
        s.shownAt = performance.now();
        waits.push(s.askedAt - keyAt);
        recordLatency(s.shownAt - keyAt);
      });
    }
  }

  // -- editing ------------------------------------------------------------------------------------

  textarea.addEventListener("input", () => {
    lastKeyAt = performance.now();
    if (suggestion && ghostText()) {
      render(); // the keystroke agreed with the suggestion: keep the rest
      return;
    }
    // Anything else (or a suggestion used up, e.g. by Tab) asks afresh for what is typed now.
    // Its stream goes too: a word still coming for it has no suggestion to join.
    clearSuggestion();
    schedule();
  });

  textarea.addEventListener("keydown", (event) => {
    const ghost = ghostText();
    if (event.key === "Tab" && ghost && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      // insertText keeps the browser's undo history; setRangeText where it is unavailable.
      if (!document.execCommand || !document.execCommand("insertText", false, ghost)) {
        textarea.setRangeText(ghost, textarea.value.length, textarea.value.length, "end");
        textarea.dispatchEvent(new Event("input"));
      }
    } else if (event.key === "Escape" && (ghost || suggestion)) {
      event.preventDefault();
      clearTimeout(timer);
      clearSuggestion();
    } else if (/^(Arrow|Home|End|Page)/.test(event.key)) {
      clearSuggestion();
    }
  });

  textarea.addEventListener("click", () => { if (!ghostText()) clearSuggestion(); });
  textarea.addEventListener("scroll", () => { mirror.scrollTop = textarea.scrollTop; });

  // For tests and the browser benchmark: the ghost text and the measured latencies.
  window.compose = {ghost: ghostText, busy: () => inflight !== null, ignored: () => ignored, latencies, waits, sessionId, endpoint};
  render();
})();
