// The demo's bar (not part of a shop's page): the relay switch, shared by the confirmation
// page and the inspector. The switch really stops and starts the relay process.

/** Wires the relay switch; `onChange(running)` is called after every change. */
export function setupRelaySwitch(onChange = () => {}) {
  const button = document.getElementById("relay-switch");
  const show = (running) => {
    if (running === null) {
      button.textContent = "none (local endpoint)";
      button.className = "switch";
      button.disabled = true;
      return;
    }
    button.textContent = running ? "running · stop it" : "stopped · start it";
    button.className = `switch ${running ? "on" : "off"}`;
    button.dataset.running = String(running);
    button.disabled = false;
  };
  const refresh = async () => {
    const state = await (await fetch("/demo/relay")).json();
    show(state.running);
    return state.running;
  };
  button.addEventListener("click", async () => {
    const wanted = button.dataset.running !== "true";
    button.disabled = true;
    button.textContent = wanted ? "starting…" : "stopping…";
    const answer = await fetch("/demo/relay", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ running: wanted }),
    });
    const state = await answer.json();
    show(state.running ?? null);
    onChange(state.running);
  });
  return refresh().catch(() => show(null));
}
