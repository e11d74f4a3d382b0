// Every page of the web interface: the user menu, confirmations and copy buttons. Served from our
// own origin (the page CSP forbids inline script); plain DOM, no framework. The pages work
// without it (menus and confirmations are <details>), only copying needs it.

// The user menu closes on Escape (focus back on its button) and on a click elsewhere.
for (const menu of document.querySelectorAll("details.user-menu")) {
  document.addEventListener("click", (ev) => {
    if (menu.open && !menu.contains(ev.target)) menu.open = false;
  });
  menu.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && menu.open) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
}

// A confirmation opens with its button focused; Escape closes it again.
for (const box of document.querySelectorAll("details.confirm")) {
  box.addEventListener("toggle", () => {
    if (box.open) box.querySelector(".confirm-box button")?.focus();
  });
  box.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && box.open) {
      box.open = false;
      box.querySelector("summary").focus();
    }
  });
}

// Secrets shown once (a token, a link, a signing secret) select themselves when focused.
for (const input of document.querySelectorAll("[data-autoselect]")) {
  input.addEventListener("focus", () => input.select());
}

// Copy buttons: data-copy names the input whose value to copy. The Clipboard API needs a secure
// context (https or localhost); elsewhere the text is selected and copied the old way.
document.addEventListener("click", async (ev) => {
  const button = ev.target instanceof Element ? ev.target.closest("[data-copy]") : null;
  if (!button) return;
  const input = document.getElementById(button.getAttribute("data-copy"));
  const status = button.closest("section")?.querySelector(".copy-status");
  let copied = false;
  try {
    await navigator.clipboard.writeText(input.value);
    copied = true;
  } catch {
    input.focus();
    input.select();
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
  }
  button.textContent = copied ? "Copied" : "Copy";
  if (status) status.textContent = copied ? "Copied to the clipboard." : "Press Ctrl+C (⌘C on a Mac) to copy the selected text.";
});
