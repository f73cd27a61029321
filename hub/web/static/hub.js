// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Live Markdown preview of the editorial: the server renders and sanitizes, this only shows it.
  const editor = document.querySelector("[data-preview-url]");
  if (editor) {
    const target = document.getElementById(editor.dataset.previewTarget);
    const csrf = editor.form.querySelector("input[name=csrf]").value;
    let timer = null;
    const refresh = async () => {
      const body = new URLSearchParams({ csrf, markdown: editor.value });
      const response = await fetch(editor.dataset.previewUrl, { method: "POST", body, credentials: "same-origin" });
      if (response.ok) target.innerHTML = await response.text();
    };
    editor.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 400); });
  }
  // Live send progress: poll the JSON status until nothing is left to send.
  const progress = document.querySelector("[data-progress-url]");
  if (progress) {
    const bar = progress.querySelector("progress");
    const text = progress.querySelector("[data-progress-text]");
    const poll = async () => {
      const response = await fetch(progress.dataset.progressUrl, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      bar.max = Math.max(data.total, 1);
      bar.value = data.done;
      text.textContent = data.text;
      if (!data.finished) setTimeout(poll, 1500);
    };
    poll();
  }
});
