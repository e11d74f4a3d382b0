// The password reset page. Its link carries the token in the fragment (#token=sfr_…), which a
// browser never sends to a server: no access log, proxy or Referer sees it. This moves it into
// the form and out of the address bar (and the history). Without script, the form asks for the
// code by hand.
const field = document.getElementById("token");
const match = /(?:^#|&)token=([^&]*)/.exec(window.location.hash);
if (field && match) {
  try {
    field.value = decodeURIComponent(match[1]);
  } catch {
    field.value = match[1];
  }
  if (field.value !== "") document.getElementById("token-field")?.setAttribute("hidden", "");
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
}
