// Renders /api/v1/openapi.json as a plain list of operations: no framework, no CDN.
"use strict";

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function resolve(doc, schema) {
  let current = schema || {};
  for (let depth = 0; current.$ref && depth < 10; depth += 1) {
    const parts = current.$ref.replace(/^#\//, "").split("/");
    current = parts.reduce((node, key) => (node ? node[key] : undefined), doc) || {};
  }
  return current;
}

function parametersTable(parameters) {
  const table = el("table");
  const head = el("tr");
  ["Parameter", "In", "Required", "Description"].forEach((h) => head.appendChild(el("th", h)));
  table.appendChild(head);
  parameters.forEach((p) => {
    const row = el("tr");
    [p.name, p.in, p.required ? "yes" : "no", p.description || ""].forEach((v) =>
      row.appendChild(el("td", String(v)))
    );
    table.appendChild(row);
  });
  return table;
}

function operationSection(doc, method, path, op) {
  const section = el("section", undefined, "operation");
  const title = el("h2");
  title.appendChild(el("span", method, "method"));
  title.appendChild(el("span", path, "path"));
  section.appendChild(title);
  if (op.summary) section.appendChild(el("p", op.summary));
  if (op.description) section.appendChild(el("pre", op.description));
  if (op.parameters && op.parameters.length) section.appendChild(parametersTable(op.parameters));
  const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  if (body) {
    section.appendChild(el("h3", "Request body (application/json)"));
    section.appendChild(el("pre", JSON.stringify(resolve(doc, body.schema), null, 2)));
  }
  section.appendChild(el("h3", "Responses"));
  const list = el("ul");
  Object.entries(op.responses || {}).forEach(([code, response]) => {
    list.appendChild(el("li", `${code}: ${response.description || ""}`));
  });
  section.appendChild(list);
  return section;
}

async function render() {
  const response = await fetch("/api/v1/openapi.json");
  const doc = await response.json();
  document.getElementById("title").textContent = `${doc.info.title} ${doc.info.version}`;
  document.getElementById("description").textContent =
    `${doc.info.description || ""} (OpenAPI ${doc.openapi})`;
  const target = document.getElementById("operations");
  Object.entries(doc.paths || {}).forEach(([path, item]) => {
    Object.entries(item).forEach(([method, op]) => {
      if (typeof op === "object" && op.responses) {
        target.appendChild(operationSection(doc, method, path, op));
      }
    });
  });
}

render().catch((error) => {
  document.getElementById("description").textContent = `Could not load the document: ${error}`;
});
