// A code block: its text set as text (never parsed as HTML), coloured by class, with a Copy
// button that also works on a plain-http intranet address, where the Clipboard API is missing.
const CLASS = /^[a-z]$/;
const SHOWN_COPIED_MS = 1500;

function runsInto(code, runs) {
  code.replaceChildren(
    ...runs.map(([name, text]) => {
      if (!CLASS.test(name)) return document.createTextNode(text);
      const span = document.createElement("span");
      span.className = "t-" + name;
      span.textContent = text;
      return span;
    }),
  );
}

async function copyText(text) {
  if (window.isSecureContext && navigator.clipboard) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try {
    if (!document.execCommand("copy")) throw new Error("copy refused");
  } finally {
    area.remove();
  }
}

function label(button, text) {
  button.title = text;
  button.setAttribute("aria-label", text);
}

export default function ({ data, parentElement }) {
  const [runs, copy, copied, wrap] = Array.isArray(data) ? data : [[], "", "", false];
  const block = parentElement.querySelector(".block");
  runsInto(block.querySelector("code"), runs);
  block.classList.toggle("wrap", wrap === true);
  const button = block.querySelector(".copy");
  label(button, copy);
  button.onclick = async () => {
    try {
      await copyText(runs.map(([, text]) => text).join(""));
    } catch {
      return; // nothing copied: the button stays as it was
    }
    button.classList.add("done");
    label(button, copied);
    setTimeout(() => {
      button.classList.remove("done");
      label(button, copy);
    }, SHOWN_COPIED_MS);
  };
}
