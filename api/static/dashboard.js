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

// Connecting happens on Nango's page in a new tab; this tab refreshes until the card settles.
const AWAIT_KEY = "sylo-awaiting-connection";
document.addEventListener("submit", (event) => {
  if (event.target.matches("form[data-awaits-connection]")) sessionStorage.setItem(AWAIT_KEY, String(Date.now()));
});
window.addEventListener("DOMContentLoaded", () => {
  const since = Number(sessionStorage.getItem(AWAIT_KEY) || 0);
  const waiting = Date.now() - since < 3 * 60 * 1000;
  const syncing = document.querySelector('[data-state="syncing"]');
  if (!waiting) sessionStorage.removeItem(AWAIT_KEY);
  if ((waiting || syncing) && document.querySelector(".cards")) setTimeout(() => location.reload(), 3000);
});
