// The dashboard's only script of its own (the page's Content-Security-Policy allows no inline
// script): copy buttons. A button with data-copy="ID" copies the text of the element ID.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const status = button.parentElement.querySelector(".copied");
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    if (status) status.textContent = "Copied to the clipboard.";
  } catch (error) {
    // No clipboard (an http page on another host): select the text so Ctrl+C copies it.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    if (status) status.textContent = "Selected: press Ctrl+C (or Cmd+C) to copy.";
  }
});

// The playground's sliders: a range input beside each bounded number moves it, and typing in
// the number moves the slider. The number box is the form's field; the slider has no name.
document.addEventListener("input", (event) => {
  const target = event.target;
  if (target.matches && target.matches("input[type=range][data-number]")) {
    const number = document.getElementById(target.dataset.number);
    if (number) number.value = target.value;
  } else if (target.matches && target.matches("input[type=number][data-range]")) {
    const range = document.getElementById(target.dataset.range);
    if (range && target.value !== "") range.value = target.value;
  }
});

// An error the server meant to be shown inline (its error fragment, marked by the
// X-Dashboard-Error header): htmx swaps no 4xx/5xx answer by default, so a failed poll or
// button would show nothing at all. Other error answers keep htmx's default.
document.addEventListener("htmx:beforeSwap", (event) => {
  const xhr = event.detail.xhr;
  if (xhr && xhr.status >= 400 && xhr.getResponseHeader("X-Dashboard-Error")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// The Playground's run card: live progress over Server-Sent Events. A card still running has
// data-events, the session-authenticated stream of its generation (the API's one-generation
// stream); its events move the progress bar and the status, and the final one makes the card
// fetch its fragment once (the result, the credits). The card's htmx polling is the fallback:
// held back while the stream is open, and left to run when EventSource is missing or fails.
// data-live on the card says which is at work: connecting, sse, done (fetching the final
// card), polling; the final card fetched after a stream says final.
(() => {
  const FINAL = ["completed", "partially_completed", "failed", "cancelled"];
  const HELD = new Set(["connecting", "sse", "done"]);
  let failed = false; // once a stream failed on this page, the polling does the work

  function show(card, event) {
    const data = JSON.parse(event.data).data || {};
    card.dataset.live = card.dataset.live === "done" ? "done" : "sse";
    const status = card.querySelector("#run-status");
    if (status && data.status) {
      status.textContent = data.status;
      status.className = "status status-" + data.status;
    }
    const bar = card.querySelector("progress");
    if (bar && typeof data.progress === "number") {
      bar.value = data.progress;
      bar.textContent = data.progress + "%";
    }
  }

  function fallBack(card, source) {
    source.close();
    failed = true;
    if (card.dataset.live !== "done") card.dataset.live = "polling";
  }

  async function finish(card, source, event) {
    card.dataset.live = "done";
    source.close();
    show(card, event);
    if (!document.body.contains(card)) return; // already replaced (Cancel swapped the card)
    try {
      const response = await fetch(card.getAttribute("hx-get"), { headers: { "HX-Request": "true" } });
      if (!response.ok) throw new Error(String(response.status));
      htmx.swap(card, await response.text(), { swapStyle: "outerHTML" });
      const final = document.getElementById("run");
      if (final) final.dataset.live = "final"; // the card the stream ended with (browser test)
    } catch (error) {
      card.dataset.live = "polling"; // the next poll shows the final card instead
    }
  }

  function follow(card) {
    if (failed || !window.EventSource || !window.htmx || card.dataset.live) return;
    const source = new EventSource(card.dataset.events);
    card.dataset.live = "connecting";
    for (const type of ["status", "progress"]) {
      source.addEventListener(type, (event) => show(card, event));
    }
    for (const type of FINAL) {
      source.addEventListener(type, (event) => finish(card, source, event));
    }
    // A dropped connection, or the server's own `error` event (the session ended): no retry
    // of the stream; the polling takes over (and signs the user in again if need be).
    source.addEventListener("error", () => {
      if (card.dataset.live !== "done") fallBack(card, source);
    });
  }

  function start(root) {
    const cards = root.querySelectorAll ? root.querySelectorAll("#run[data-events]") : [];
    for (const card of cards) follow(card);
    if (root.matches && root.matches("#run[data-events]")) follow(root);
  }

  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    if (elt && elt.id === "run" && HELD.has(elt.dataset.live)) event.preventDefault();
  });
  document.addEventListener("htmx:load", (event) => start(event.detail.elt));
  start(document);
})();

// A form marked data-once (a credit grant) is sent once: a second click while the first
// request is on its way would grant twice, so its buttons are disabled as it leaves. The page
// that answers (a redirect back, or the form again with its error) comes with them enabled.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-once")) return;
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  // After this submit has taken the form's values (a disabled button's would be dropped).
  setTimeout(() => form.querySelectorAll("button").forEach((b) => (b.disabled = true)), 0);
});
