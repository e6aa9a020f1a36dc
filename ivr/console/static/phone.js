// The console's softphone (/console/phone): plays the caller's side of a call.
// The server plays Twilio (ivr/app/softphone.py); each request answers with what the caller
// hears next and the prompt that waits. A prompt waits as Twilio's <Gather> does: its keys are
// sent when it has its digits, on its finish key, or after its time-out with no key.
"use strict";

(function () {
  const root = document.getElementById("phone");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const keys = Array.from(root.querySelectorAll(".key"));
  const state = { call: null, waiting: null, entry: "", timer: null, busy: false };

  function setStatus(text) { $("status").textContent = text; }

  function line(text, kind, leg) {
    const li = document.createElement("li");
    li.textContent = text;
    li.className = kind + (leg ? " leg1" : "");
    $("transcript").appendChild(li);
    li.scrollIntoView({ block: "nearest" });
  }

  function speak(text, language) {
    if (!$("speak").checked || !("speechSynthesis" in window) || !text) return;
    const utterance = new SpeechSynthesisUtterance(text);
    if (language) utterance.lang = language;
    window.speechSynthesis.speak(utterance);
  }

  const SHOWN = {
    say: (e) => ["Heard: " + e.text, "ivr"],
    play: (e) => ["Plays " + e.text, "note"],
    pause: (e) => ["(pause " + e.text + ")", "note"],
    keys: (e) => ["Keyed: " + e.text, "caller"],
    speech: (e) => ["Said: " + e.text, "caller"],
    no_input: (e) => ["No input (" + e.text + ")", "note"],
    dial: (e) => ["Transferred: " + e.text, "note"],
    dial_result: (e) => [e.text, "note"],
    enqueue: (e) => [e.text, "note"],
    hangup: (e) => [e.text, "note"],
    caller_hangup: () => ["You hung up.", "note"],
    error: (e) => [e.text, "error"],
  };

  function show(events) {
    for (const e of events) {
      const shown = SHOWN[e.kind];
      if (!shown) continue;
      const [text, kind] = shown(e);
      line(text, kind, e.leg);
      if (e.kind === "say") speak(e.text, e.language);
    }
  }

  function inCall(on) {
    $("call").disabled = on;
    $("hangup").disabled = !on;
    $("to").disabled = on;
    $("from").disabled = on;
    for (const key of keys) key.disabled = !on;
  }

  function clearTimer() {
    if (state.timer) window.clearTimeout(state.timer);
    state.timer = null;
  }

  function startTimer(seconds) {
    clearTimer();
    state.timer = window.setTimeout(() => send(), seconds * 1000);
  }

  function spokenSeconds(events) {
    let words = 0;
    for (const e of events) if (e.kind === "say") words += e.text.split(/\s+/).length;
    return words / 2.5;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
      body: JSON.stringify(body || {}),
    });
    let answer = null;
    try { answer = await response.json(); } catch (_) { answer = null; }
    if (!response.ok) {
      const why = answer && answer.error ? answer.error : "the console answered " + response.status;
      throw new Error(why);
    }
    return answer;
  }

  function step(answer) {
    state.call = answer.call;
    show(answer.events);
    state.waiting = answer.waiting;
    state.entry = "";
    $("entry").textContent = "";
    if (answer.ended) {
      root.dataset.state = "ended";
      inCall(false);
      clearTimer();
      const link = document.createElement("a");
      link.href = root.dataset.calls + "/" + encodeURIComponent(answer.call);
      link.textContent = "the call's record";
      const li = document.createElement("li");
      li.className = "note";
      li.append("Call ended (" + answer.duration + " s). See ", link, ".");
      $("transcript").appendChild(li);
      setStatus("Call ended.");
      state.call = null;
      return;
    }
    const w = state.waiting;
    root.dataset.state = "waiting-" + w.answered; // for tests and assistive tools
    const onBridge = w.leg > 0;
    setStatus((onBridge ? "On the payment line: " : "") + "waiting for your keys" +
      (w.num_digits ? " (" + w.num_digits + " digits)" : "") +
      (w.finish_on_key ? ", then " + w.finish_on_key : "") + ".");
    // Twilio's time-out starts when the prompt has been spoken.
    startTimer(spokenSeconds(answer.events) + w.timeout);
  }

  async function send() {
    clearTimer();
    if (!state.call || !state.waiting || state.busy) return;
    state.busy = true;
    const entry = state.entry;
    try {
      step(await post(root.dataset.ring + "/" + state.call + "/keys",
        { keys: entry, answered: state.waiting.answered }));
    } catch (error) {
      line("The call could not go on: " + error.message, "error", 0);
    } finally {
      state.busy = false;
    }
  }

  function press(key) {
    if (!state.call || !state.waiting || state.busy) return;
    if (window.speechSynthesis) window.speechSynthesis.cancel(); // a key cuts the prompt short
    const w = state.waiting;
    if (w.finish_on_key && key === w.finish_on_key) {
      state.entry += key;
      send();
      return;
    }
    state.entry += key;
    $("entry").textContent = w.leg > 0 ? "•".repeat(state.entry.length) : state.entry;
    if (w.num_digits && state.entry.length >= w.num_digits) {
      send();
      return;
    }
    startTimer(w.timeout);
  }

  $("dial").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("transcript").textContent = "";
    inCall(true);
    setStatus("Ringing " + $("to").value + "…");
    try {
      step(await post(root.dataset.ring, { to: $("to").value, from: $("from").value }));
    } catch (error) {
      inCall(false);
      setStatus("The call could not be placed: " + error.message);
    }
  });

  $("hangup").addEventListener("click", async () => {
    clearTimer();
    if (window.speechSynthesis) window.speechSynthesis.cancel();
    if (!state.call) return;
    try {
      step(await post(root.dataset.ring + "/" + state.call + "/hangup"));
    } catch (error) {
      inCall(false);
      setStatus("Hung up (" + error.message + ").");
    }
  });

  for (const key of keys) key.addEventListener("click", () => press(key.dataset.key));
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
    if (/^[0-9*#]$/.test(event.key) && state.call) {
      event.preventDefault();
      press(event.key);
    }
  });
})();
