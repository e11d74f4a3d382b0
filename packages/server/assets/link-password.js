// The password form of a protected link. The page's address may end with the package's key
// (`#AGE-SECRET-KEY-…`), which a browser never sends. A form's action loses it, so the page the
// server sends back after the right password would open without it: the action gets this
// address's fragment. The fragment of an action is not sent either, and the server's 303 back to
// the page, which has none, inherits it, so the key stays in this browser.
const form = document.querySelector("form.password-form");
if (form && location.hash !== "") form.action = form.getAttribute("action") + location.hash;
