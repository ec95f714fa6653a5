// The page: a form that asks the coordinator's HTTP/JSON API for a probe and follows its events
// (the region × port matrix fills as tasks land), then shows the report; `/p/<probe id>` shows a
// stored report (the share link). Errors the API names a field for appear next to that field, in
// the API's words.
import { ProbeRequest, type ProbeEvent, type ProbeReport } from "../gen/smtpprobe/v1/probe_service.js";
import { liveMatrixView } from "../cli/format-matrix.js";
import { applyProbeEvent, countDone, createLiveProbe } from "../cli/live-probe.js";
import { ApiError, getProbe, listRegions, savedToken, saveToken, streamProbe } from "./api.js";
import { byId, h, replace } from "./dom.js";
import { placeProblems, type FormField } from "./field-errors.js";
import { matrixTable } from "./matrix.js";
import { reportView } from "./report-view.js";

const SHARE_PATH = /^\/p\/([0-9a-f-]{36})\/?$/;
const FORM_FIELDS: readonly FormField[] = ["host", "mx", "ports", "regions", "tls-mode"];

const form = byId<HTMLFormElement>("probe-form");
const submit = byId<HTMLButtonElement>("submit");
const live = byId("live");
const liveStatus = byId("live-status");
const matrix = byId("matrix");
const reportSection = byId("report");
let running: AbortController | undefined;

function start(): void {
  const token = byId<HTMLInputElement>("token");
  token.value = savedToken();
  if (token.value) byId<HTMLDetailsElement>("token-box").open = true;
  token.addEventListener("change", () => saveToken(token.value.trim()));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void runProbe();
  });
  window.addEventListener("popstate", () => void route());
  void loadRegions();
  void route();
}

async function route(): Promise<void> {
  const shared = SHARE_PATH.exec(location.pathname)?.[1];
  if (shared) await showStored(shared);
}

async function loadRegions(): Promise<void> {
  const list = byId("region-list");
  try {
    const { regions } = await listRegions();
    if (regions.length === 0) {
      replace(list, h("span", { className: "hint" }, "No region has a live agent yet."));
      return;
    }
    replace(
      list,
      ...regions.flatMap((region) => {
        const id = `region-${region.name}`;
        const agents = region.agents.length;
        return [h("input", { id, attrs: { type: "checkbox", value: region.name } }), h("label", { attrs: { for: id } }, region.name, h("span", { className: "hint" }, ` ${agents} agent${agents === 1 ? "" : "s"}`))];
      }),
    );
  } catch (error) {
    replace(list, h("span", { className: "error" }, `The regions could not be listed: ${messageOf(error)}`));
    if (error instanceof ApiError && error.httpStatus === 401) byId<HTMLDetailsElement>("token-box").open = true;
  }
}

/** The form as a ProbeRequest in the JSON mapping; what it holds is checked by the API, not here. */
function requestFromForm(): unknown {
  const checked = (selector: string): string[] => [...form.querySelectorAll<HTMLInputElement>(selector)].filter((i) => i.checked).map((i) => i.value);
  const ports: unknown[] = checked("#ports input[type=checkbox]").map(Number);
  const other = byId<HTMLInputElement>("other-port").value.trim();
  // Sent as typed: a port that is not one gets the API's own words next to the field.
  if (other !== "") ports.push(/^\d+$/.test(other) ? Number(other) : other);
  const tlsMode = byId<HTMLSelectElement>("tls-mode").value;
  return {
    host: byId<HTMLInputElement>("host").value.trim(),
    mx: byId<HTMLInputElement>("mx").checked,
    ports,
    regions: checked("#region-list input[type=checkbox]"),
    ...(tlsMode ? { options: { tlsMode } } : {}),
  };
}

async function runProbe(): Promise<void> {
  running?.abort();
  const controller = new AbortController();
  running = controller;
  clearProblems();
  const request = requestFromForm();
  const shape = ProbeRequest.fromJSON(request);
  const state = createLiveProbe();
  submit.disabled = true;
  reportSection.hidden = true;
  live.hidden = false;
  liveStatus.textContent = "Starting the probe…";
  replace(matrix);
  const draw = (): void => {
    const { done, total } = countDone(state, shape);
    liveStatus.textContent = state.accepted ? `Probe ${state.accepted.probeId}: ${done} of ${total} done` : "Starting the probe…";
    replace(matrix, matrixTable(liveMatrixView(state, shape), "Live: each cell as its task lands", () => false));
  };
  try {
    const report = await streamProbe(
      request,
      (event: ProbeEvent) => {
        applyProbeEvent(state, event);
        if (!event.report) draw();
      },
      controller.signal,
    );
    liveStatus.textContent = `Done: ${report.tasks.length} of ${report.tasks.length} tasks reported.`;
    // The report has the final matrix: the live one gives way to it.
    live.hidden = true;
    showReport(report);
    history.pushState(null, "", `/p/${report.probeId}`);
  } catch (error) {
    if (controller.signal.aborted) return;
    live.hidden = state.accepted === undefined;
    showProblems(error);
  } finally {
    if (running === controller) {
      running = undefined;
      submit.disabled = false;
    }
  }
}

async function showStored(probeId: string): Promise<void> {
  live.hidden = true;
  try {
    showReport(await getProbe(probeId));
  } catch (error) {
    reportSection.hidden = false;
    replace(reportSection, h("h2", { id: "report-title" }, "Report"), h("p", { className: "error", attrs: { role: "alert" } }, `Probe ${probeId}: ${messageOf(error)}`));
  }
}

function showReport(report: ProbeReport): void {
  replace(reportSection, ...reportView(report));
  reportSection.hidden = false;
}

function fieldError(field: FormField): HTMLElement {
  return byId(`${field}-error`);
}

function fieldControl(field: FormField): HTMLElement {
  return byId(field);
}

function clearProblems(): void {
  for (const field of FORM_FIELDS) {
    const error = fieldError(field);
    error.hidden = true;
    error.textContent = "";
    fieldControl(field).removeAttribute("aria-invalid");
  }
  const general = byId("form-error");
  general.hidden = true;
  general.textContent = "";
}

function showProblems(error: unknown): void {
  const general = byId("form-error");
  if (!(error instanceof ApiError) || error.problems.length === 0) {
    general.textContent = messageOf(error);
    general.hidden = false;
    if (error instanceof ApiError && error.httpStatus === 401) byId<HTMLDetailsElement>("token-box").open = true;
    return;
  }
  const { byField, general: rest } = placeProblems(error.problems);
  let first: HTMLElement | undefined;
  for (const [field, texts] of byField) {
    const element = fieldError(field);
    element.textContent = texts.join(" ");
    element.hidden = false;
    const control = fieldControl(field);
    control.setAttribute("aria-invalid", "true");
    first ??= control;
  }
  if (rest.length > 0) {
    general.textContent = rest.join(" ");
    general.hidden = false;
  }
  const focusable = first?.matches("input, select") ? first : first?.querySelector<HTMLElement>("input");
  focusable?.focus();
}

function messageOf(error: unknown): string {
  if (error instanceof ApiError) {
    const retry = error.retryAfterS !== undefined ? ` Try again in ${error.retryAfterS} s.` : "";
    return `${error.message}${retry}`;
  }
  return error instanceof Error ? error.message : String(error);
}

start();
