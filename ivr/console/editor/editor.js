// The plan editor of the console (built into ../static/editor.js by scripts/build_editor.sh):
// CodeMirror on the plan's textarea, with YAML highlighting and the engine's own check as the
// admin types (POST .../check: errors and warnings at line and column). Without JavaScript the
// textarea and its Check button do the same.
import { EditorView, basicSetup } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter } from "@codemirror/lint";

function mount(textarea) {
  const form = textarea.form;
  const csrf = form.querySelector("input[name=csrf_token]").value;
  const status = document.createElement("p");
  status.id = "editor-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");

  const check = linter(
    async (view) => {
      const text = view.state.doc.toString();
      let body;
      try {
        const answer = await fetch(textarea.dataset.checkUrl, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
          body: JSON.stringify({ text }),
          credentials: "same-origin",
        });
        if (!answer.ok) {
          status.textContent = `The check did not answer (${answer.status}).`;
          return [];
        }
        body = await answer.json();
      } catch (error) {
        status.textContent = "The check did not answer: is the server up?";
        return [];
      }
      const errors = body.diagnostics.filter((d) => d.severity === "error").length;
      const warnings = body.diagnostics.length - errors;
      status.textContent = body.ok
        ? warnings ? `No errors; ${warnings} warning(s).` : "No errors."
        : `${errors} error(s), ${warnings} warning(s): see the marked lines.`;
      const doc = view.state.doc;
      return body.diagnostics.map((d) => {
        const line = doc.line(Math.min(Math.max(d.line, 1), doc.lines));
        const from = Math.min(line.from + Math.max(d.col - 1, 0), line.to);
        return {
          from,
          to: line.to > from ? line.to : from,
          severity: d.severity === "error" ? "error" : "warning",
          message: `line ${d.line}, column ${d.col}: ${d.message}`,
        };
      });
    },
    { delay: 400 },
  );

  const view = new EditorView({
    doc: textarea.value,
    extensions: [
      basicSetup,
      yaml(),
      check,
      lintGutter(),
      EditorView.cspNonce.of(textarea.dataset.cspNonce || ""),
      EditorView.contentAttributes.of({ "aria-label": "The plan's YAML (editor)", tabindex: "0" }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) textarea.value = update.state.doc.toString();
      }),
    ],
  });
  view.dom.classList.add("plan-editor");
  textarea.parentNode.insertBefore(view.dom, textarea);
  textarea.parentNode.insertBefore(status, textarea);
  textarea.hidden = true; // the form still posts it
  window.planEditor = view; // for tests and the curious
}

const textarea = document.querySelector("textarea#text[data-check-url]");
if (textarea) mount(textarea);
