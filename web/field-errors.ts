// Which form field a problem the API names belongs to: validation names request fields the way the
// proto does ("host", "ports[1]", "options.tls_mode", "tls_modes[25]"), and the page shows each
// problem next to its field in the API's own words. Pure.

export type FormField = "host" | "mx" | "ports" | "regions" | "tls-mode";

export function formFieldOf(field: string): FormField | undefined {
  const head = field.split(/[.[]/)[0];
  switch (head) {
    case "host":
      return "host";
    case "mx":
      return "mx";
    case "ports":
    case "port_roles":
      return "ports";
    case "regions":
      return "regions";
    case "tls_modes":
      return "tls-mode";
    case "options":
      return field === "options.tls_mode" ? "tls-mode" : undefined;
    default:
      return undefined;
  }
}

export interface FieldProblem {
  field: string;
  description: string;
}

/** The problems by form field, and those that belong to none (shown above the button). */
export function placeProblems(problems: readonly FieldProblem[]): { byField: Map<FormField, string[]>; general: string[] } {
  const byField = new Map<FormField, string[]>();
  const general: string[] = [];
  for (const p of problems) {
    const target = formFieldOf(p.field);
    const text = `${p.field}: ${p.description}`;
    if (target) byField.set(target, [...(byField.get(target) ?? []), text]);
    else general.push(text);
  }
  return { byField, general };
}
