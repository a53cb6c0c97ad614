// Sylo dashboard: copy buttons, following a connection made in another tab, folded sections. No framework.

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

// Connecting happens on Nango's page, in a tab this page opens. The page asks Sylo for the cards'
// states every few seconds and reloads once the awaited card moves on. If the sign-in tab says it
// was refused, or is closed with nothing connected, the card says so instead of waiting in silence.
const POLL_MS = 2000;
const GIVE_UP_MS = 3 * 60 * 1000;
const CLOSED_GRACE_POLLS = 3;  // Nango's webhook may land a moment after the tab closes
let awaited = null;

const say = (card, text, tone = "") => {
  const live = card.querySelector("[data-live]");
  if (live) { live.textContent = text; live.dataset.tone = tone; }
};

function notConnected(why) {
  const {card} = awaited;
  say(card, `${card.dataset.name} was not connected: ${why}. Nothing changed; ` +
            `press Connect ${card.dataset.name} to try again.`, "warn");
  awaited = null;
}

async function poll() {
  let states;
  try {
    states = await (await fetch(document.querySelector(".cards").dataset.states, {credentials: "same-origin"})).json();
  } catch { return setTimeout(poll, POLL_MS * 2); }
  const moved = [...document.querySelectorAll(".card[data-service]")].some((card) =>
    states[card.dataset.service] && states[card.dataset.service] !== card.dataset.watch);
  if (moved) return location.reload();
  if (awaited) {
    if (Date.now() - awaited.since > GIVE_UP_MS) return notConnected("nothing came back from the sign-in page");
    if (awaited.tab && awaited.tab.closed && awaited.heard !== "connect" && ++awaited.closedPolls > CLOSED_GRACE_POLLS) {
      return notConnected("the sign-in page was closed before it finished");
    }
  }
  if (awaited || settling()) setTimeout(poll, POLL_MS);
}

// Cards that change on their own: a first sync under way, data being deleted, a document catching up.
const settling = () => document.querySelector('.card[data-state="syncing"], .card[data-watch*=":"]');

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("form[data-awaits-connection]")) return;
  const card = form.closest("[data-service]");
  const name = `sylo-connect-${card.dataset.service}`;
  // A named tab this page opened itself, so the sign-in page can tell it how things went.
  const tab = window.open("", name);
  if (tab) form.target = name;
  const first = awaited === null;
  awaited = {card, tab, since: Date.now(), heard: null, closedPolls: 0};
  say(card, `Finish on ${card.dataset.name}'s sign-in page; this page follows along.`);
  if (first && !settling()) setTimeout(poll, POLL_MS);
});

window.addEventListener("message", (event) => {
  if (!awaited || !awaited.tab || event.source !== awaited.tab) return;
  const type = event.data && event.data.type;
  if (type === "connect") {
    awaited.heard = "connect";
    say(awaited.card, `${awaited.card.dataset.name} connected. The first sync is starting…`);
  } else if (type === "error") {
    notConnected("the sign-in was cancelled or refused");
  } else if (type === "close" && awaited.heard !== "connect") {
    notConnected("the sign-in page was closed before it finished");
  }
});

// Folded sections: a link to one (#overdue-invoices) opens it; "Open all" opens every one.
function openTarget() {
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  const folded = target && target.closest("details");
  if (folded) { folded.open = true; target.scrollIntoView(); }
}
window.addEventListener("hashchange", openTarget);
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-toggle-all]");
  if (!button) return;
  const sections = [...document.querySelectorAll("details.section")];
  const open = !sections.every((section) => section.open);
  sections.forEach((section) => { section.open = open; });
  button.textContent = open ? "Close all" : "Open all";
});

window.addEventListener("DOMContentLoaded", () => {
  openTarget();
  if (document.querySelector(".cards[data-states]") && settling()) setTimeout(poll, POLL_MS);
});
