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
