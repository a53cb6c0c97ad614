// Copy buttons: <button data-copy="element-id"> copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.innerText.trim());
    button.textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  button.setAttribute("aria-live", "polite");
  setTimeout(() => { button.textContent = label; }, 2500);
});

// Connecting happens on Nango's page in a new tab; this tab refreshes until that card settles.
const AWAIT_KEY = "sylo-awaiting-connection";
const refreshSoon = () => setTimeout(() => location.reload(), 3000);
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("form[data-awaits-connection]")) return;
  const card = form.closest("[data-service]");
  const awaited = {since: Date.now(), service: card.dataset.service, from: card.dataset.state};
  sessionStorage.setItem(AWAIT_KEY, JSON.stringify(awaited));
  refreshSoon();  // the form opens a new tab, so no page load here would start the refreshing
});
window.addEventListener("DOMContentLoaded", () => {
  if (!document.querySelector(".cards")) return;
  const awaited = JSON.parse(sessionStorage.getItem(AWAIT_KEY) || "null");
  const card = awaited && document.querySelector(`.card[data-service="${awaited.service}"]`);
  // Stop once the card has moved on, so a settled page never reloads under someone's hand.
  const waiting = card && Date.now() - awaited.since < 3 * 60 * 1000 && card.dataset.state === awaited.from;
  if (!waiting) sessionStorage.removeItem(AWAIT_KEY);
  if (waiting || document.querySelector('[data-state="syncing"]')) refreshSoon();
});
