// Renders /api/v1/openapi.json as a readable reference: no framework, no CDN.
"use strict";

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// Text with `code` spans, as the document's descriptions write them.
function prose(tag, text, className) {
  const node = el(tag, undefined, className);
  String(text || "")
    .split(/(`[^`]*`)/)
    .forEach((part) => {
      if (part.startsWith("`") && part.endsWith("`") && part.length > 1) {
        node.appendChild(el("code", part.slice(1, -1)));
      } else if (part) {
        node.appendChild(document.createTextNode(part));
      }
    });
  return node;
}

function refName(ref) {
  return ref.split("/").pop();
}

function schemaAnchor(name) {
  return `schema-${name.replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

// A short type for a schema: string, integer, Topic[], string | null, "a" | "b" ...
function typeOf(schema) {
  if (!schema) return "any";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const union = schema.anyOf || schema.oneOf;
  if (union) return union.map(typeOf).join(" | ");
  if (schema.type === "array") return `${typeOf(schema.items)}[]`;
  if (schema.type === "object" && schema.additionalProperties) {
    return `map of ${typeOf(schema.additionalProperties)}`;
  }
  if (schema.format) return `${schema.type} (${schema.format})`;
  return schema.type || "any";
}

function typeCell(schema) {
  const cell = el("td");
  const refs = [];
  const walk = (s) => {
    if (!s) return;
    if (s.$ref) refs.push(refName(s.$ref));
    (s.anyOf || s.oneOf || []).forEach(walk);
    if (s.items) walk(s.items);
  };
  walk(schema);
  if (refs.length === 1) {
    const link = el("a", typeOf(schema));
    link.href = `#${schemaAnchor(refs[0])}`;
    cell.appendChild(link);
  } else {
    cell.appendChild(el("code", typeOf(schema)));
  }
  return cell;
}

function limits(schema) {
  const words = [];
  const s = schema || {};
  const pairs = [
    ["minLength", "at least %s characters"],
    ["maxLength", "at most %s characters"],
    ["minimum", "≥ %s"],
    ["maximum", "≤ %s"],
    ["minItems", "at least %s items"],
    ["maxItems", "at most %s items"],
    ["pattern", "matches %s"],
  ];
  pairs.forEach(([key, text]) => {
    if (s[key] === undefined) return;
    const phrase = text.replace("%s", s[key]);
    words.push(s[key] === 1 ? phrase.replace(/s$/, "") : phrase);
  });
  (s.anyOf || []).forEach((part) => {
    const inner = limits(part);
    if (inner) words.push(inner);
  });
  if (s.default !== undefined) words.push(`default ${JSON.stringify(s.default)}`);
  return words.join(", ");
}

function fieldsTable(schema) {
  const table = el("table");
  const head = el("tr");
  ["Field", "Type", "Required", "Rules", "Description"].forEach((h) => head.appendChild(el("th", h)));
  table.appendChild(head);
  const required = new Set(schema.required || []);
  Object.entries(schema.properties || {}).forEach(([name, field]) => {
    const row = el("tr");
    row.appendChild(el("td")).appendChild(el("code", name));
    row.appendChild(typeCell(field));
    row.appendChild(el("td", required.has(name) ? "yes" : "no"));
    row.appendChild(el("td", limits(field)));
    row.appendChild(prose("td", field.description || ""));
    table.appendChild(row);
  });
  return table;
}

function parametersTable(parameters) {
  const table = el("table");
  const head = el("tr");
  ["Parameter", "In", "Type", "Required", "Rules", "Description"].forEach((h) =>
    head.appendChild(el("th", h))
  );
  table.appendChild(head);
  parameters.forEach((p) => {
    const row = el("tr");
    row.appendChild(el("td")).appendChild(el("code", p.name));
    row.appendChild(el("td", p.in));
    row.appendChild(typeCell(p.schema));
    row.appendChild(el("td", p.required ? "yes" : "no"));
    row.appendChild(el("td", limits(p.schema)));
    row.appendChild(prose("td", p.description || (p.schema && p.schema.description) || ""));
    table.appendChild(row);
  });
  return table;
}

function responsesTable(op) {
  const table = el("table");
  const head = el("tr");
  ["Status", "Meaning", "Body"].forEach((h) => head.appendChild(el("th", h)));
  table.appendChild(head);
  Object.entries(op.responses || {}).forEach(([code, response]) => {
    const row = el("tr");
    row.appendChild(el("td", code, Number(code) >= 400 ? "status refused" : "status ok"));
    row.appendChild(el("td", response.description || ""));
    const cell = el("td");
    Object.entries(response.content || {}).forEach(([mime, media]) => {
      const line = el("div");
      line.appendChild(el("code", mime));
      if (media.schema && media.schema.$ref) {
        line.appendChild(document.createTextNode(" "));
        const link = el("a", refName(media.schema.$ref));
        link.href = `#${schemaAnchor(refName(media.schema.$ref))}`;
        line.appendChild(link);
      }
      cell.appendChild(line);
    });
    row.appendChild(cell);
    table.appendChild(row);
  });
  return table;
}

function operationId(method, path, op) {
  return `op-${op.operationId || `${method}-${path}`}`.replace(/[^A-Za-z0-9_-]/g, "-");
}

function operationSection(doc, method, path, op) {
  const section = el("section", undefined, "operation");
  section.id = operationId(method, path, op);
  const title = el("h3");
  title.appendChild(el("span", method.toUpperCase(), `method method-${method}`));
  title.appendChild(el("span", path, "path"));
  section.appendChild(title);
  if (op.summary) section.appendChild(prose("p", op.summary, "summary"));
  String(op.description || "")
    .split(/\n\s*\n/)
    .filter((part) => part.trim())
    .forEach((part) => section.appendChild(prose("p", part, "description")));
  if (op.operationId) {
    const id = el("p", undefined, "operation-id");
    id.appendChild(document.createTextNode("operationId "));
    id.appendChild(el("code", op.operationId));
    section.appendChild(id);
  }
  if (op.parameters && op.parameters.length) {
    section.appendChild(el("h4", "Parameters"));
    section.appendChild(parametersTable(op.parameters));
  }
  const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  if (body && body.schema) {
    const name = body.schema.$ref ? refName(body.schema.$ref) : "";
    section.appendChild(el("h4", `Request body (application/json)${name ? `: ${name}` : ""}`));
    section.appendChild(fieldsTable(resolve(doc, body.schema)));
  }
  section.appendChild(el("h4", "Responses"));
  section.appendChild(responsesTable(op));
  return section;
}

function resolve(doc, schema) {
  let current = schema || {};
  for (let depth = 0; current.$ref && depth < 10; depth += 1) {
    const parts = current.$ref.replace(/^#\//, "").split("/");
    current = parts.reduce((node, key) => (node ? node[key] : undefined), doc) || {};
  }
  return current;
}

function operations(doc) {
  const found = [];
  Object.entries(doc.paths || {}).forEach(([path, item]) => {
    Object.entries(item).forEach(([method, op]) => {
      if (typeof op === "object" && op && op.responses) found.push({ method, path, op });
    });
  });
  return found;
}

function byTag(found) {
  const groups = new Map();
  found.forEach((entry) => {
    const tag = (entry.op.tags && entry.op.tags[0]) || "other";
    if (!groups.has(tag)) groups.set(tag, []);
    groups.get(tag).push(entry);
  });
  return groups;
}

function contents(groups) {
  const nav = el("nav");
  nav.setAttribute("aria-label", "Operations");
  nav.appendChild(el("h2", "Operations"));
  groups.forEach((entries, tag) => {
    nav.appendChild(el("h3", tag));
    const list = el("ul");
    entries.forEach(({ method, path, op }) => {
      const item = el("li");
      const link = el("a");
      link.href = `#${operationId(method, path, op)}`;
      link.appendChild(el("span", method.toUpperCase(), `method method-${method}`));
      link.appendChild(el("span", path.replace(/^\/api\/v1/, ""), "path"));
      if (op.summary) link.title = op.summary;
      item.appendChild(link);
      list.appendChild(item);
    });
    nav.appendChild(list);
  });
  return nav;
}

function schemasSection(doc) {
  const section = el("section", undefined, "schemas");
  section.appendChild(el("h2", "Schemas"));
  Object.entries((doc.components && doc.components.schemas) || {})
    .sort(([a], [b]) => a.localeCompare(b))
    .forEach(([name, schema]) => {
      const block = el("div", undefined, "schema");
      block.id = schemaAnchor(name);
      block.appendChild(el("h3", name));
      if (schema.description) block.appendChild(prose("p", schema.description));
      if (schema.properties) block.appendChild(fieldsTable(schema));
      else block.appendChild(el("p")).appendChild(el("code", typeOf(schema)));
      section.appendChild(block);
    });
  return section;
}

async function render() {
  const response = await fetch("/api/v1/openapi.json");
  const doc = await response.json();
  document.title = `${doc.info.title}, version ${doc.info.version}`;
  document.getElementById("title").textContent = document.title;
  const description = document.getElementById("description");
  description.replaceWith(prose("p", `${doc.info.description || ""} (OpenAPI ${doc.openapi})`));
  const groups = byTag(operations(doc));
  const layout = document.getElementById("operations");
  layout.appendChild(contents(groups));
  const main = el("div", undefined, "reference");
  groups.forEach((entries, tag) => {
    main.appendChild(el("h2", tag, "tag"));
    entries.forEach(({ method, path, op }) => main.appendChild(operationSection(doc, method, path, op)));
  });
  main.appendChild(schemasSection(doc));
  layout.appendChild(main);
}

render().catch((error) => {
  document.getElementById("description").textContent = `Could not load the document: ${error}`;
});
