// The console's own behaviour, loaded as a file (the CSP allows no inline script).
// Everything works without it; it only adds confirmations and conveniences.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("focusin", (event) => {
  const input = event.target;
  if (input instanceof HTMLInputElement && input.hasAttribute("data-select-on-focus")) {
    input.select();
  }
});
