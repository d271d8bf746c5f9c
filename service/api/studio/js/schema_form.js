// Form fields from a JSON schema (a family's hyperparameters), and back to an object.
import { h, replace } from "./dom.js";

/** The property's own schema, looking through `anyOf: [{...}, {type: "null"}]` of optional fields. */
function concrete(spec) {
  const options = spec.anyOf?.filter((option) => option.type !== "null");
  return options?.length ? { ...options[0], ...spec, anyOf: undefined } : spec;
}

function input(name, spec) {
  const { type, default: initial } = spec;
  if (spec.enum) {
    return h("select", { name }, spec.enum.map((value) => h("option", { value, selected: value === initial }, String(value))));
  }
  if (type === "boolean") return h("input", { name, type: "checkbox", checked: initial === true });
  if (type === "integer" || type === "number") {
    const min = spec.minimum ?? spec.exclusiveMinimum;
    const max = spec.maximum ?? spec.exclusiveMaximum;
    return h("input", { name, type: "number", min, max, step: type === "integer" ? 1 : "any", value: initial ?? "",
                        placeholder: initial === null ? "none" : undefined });
  }
  return h("input", { name, value: initial ?? "" });
}

export class SchemaForm {
  constructor(container) {
    this.container = container;
    this.properties = {};
  }

  render(schema) {
    this.properties = Object.fromEntries(Object.entries(schema.properties || {}).map(([k, v]) => [k, concrete(v)]));
    replace(this.container, Object.entries(this.properties).map(([name, spec]) =>
      h("label", { title: spec.description || "" }, spec.title || name, input(name, spec),
        h("small", {}, spec.description || ""))));
  }

  /** Only the values changed from their defaults: the server fills in the rest. */
  values() {
    const result = {};
    for (const [name, spec] of Object.entries(this.properties)) {
      const field = this.container.querySelector(`[name="${name}"]`);
      let value;
      if (field.type === "checkbox") value = field.checked;
      else if (spec.type === "integer" || spec.type === "number" || (spec.enum && typeof spec.enum[0] === "number")) {
        if (field.value === "") continue;
        value = Number(field.value);
      } else value = field.value;
      if (value !== spec.default) result[name] = value;
    }
    return result;
  }

  set(values) {
    for (const [name, value] of Object.entries(values)) {
      const field = this.container.querySelector(`[name="${name}"]`);
      if (!field) continue;
      if (field.type === "checkbox") field.checked = Boolean(value);
      else field.value = String(value);
    }
  }
}
