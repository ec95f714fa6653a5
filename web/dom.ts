// Building the page's elements. Whatever a probed server sent (banner, EHLO lines, replies,
// certificate subjects and names, transcript lines) is hostile: it only ever becomes a text node
// here (textContent), never markup, so no string from a report can become an element or a script.
// The only attributes set are the page's own (classes, ids, our links), never a value from a report
// except as text. eslint refuses innerHTML and its kin in web/.

export type Child = Node | string | number | undefined | null | false;

export interface Props {
  className?: string;
  id?: string;
  /** Only links the page builds itself (a share link, an anchor of its own). */
  href?: string;
  attrs?: Record<string, string>;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.className) element.className = props.className;
  if (props.id) element.id = props.id;
  if (props.href !== undefined) element.setAttribute("href", props.href);
  for (const [name, value] of Object.entries(props.attrs ?? {})) element.setAttribute(name, value);
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    parent.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces an element's content. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** A definition list of facts; empty values are left out. */
export function facts(rows: readonly [string, Child][]): HTMLDListElement {
  const list = h("dl", { className: "facts" });
  for (const [term, value] of rows) {
    if (value === undefined || value === null || value === false || value === "") continue;
    append(list, h("dt", {}, term), h("dd", {}, value));
  }
  return list;
}
