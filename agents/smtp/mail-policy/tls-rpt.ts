// SMTP TLS reporting (RFC 8460 §3): the _smtp._tls TXT record, "v=TLSRPTv1; rua=mailto:…,https://…".
// Written here because it is a few lines of grammar and no maintained library reads it. Pure.
import { TlsRptStatus, type TlsRpt } from "../../../gen/smtpprobe/v1/handshake.js";
import { quote } from "./mta-sts.js";

const RPT_PREFIX = /^v=TLSRPTv1[ \t]*(;|$)/;
const MAX_URIS = 16;

export function emptyTlsRpt(): TlsRpt {
  return { status: TlsRptStatus.TLS_RPT_STATUS_UNSPECIFIED, reason: "", records: [], rua: [] };
}

/**
 * The _smtp._tls TXT records, each as its strings. RFC 8460 §3: records not beginning
 * "v=TLSRPTv1" are discarded; unless exactly one is left, senders assume no reporting.
 */
export function readTlsRpt(txt: readonly (readonly string[])[]): TlsRpt {
  const records = txt.map((strings) => strings.join("")).filter((r) => RPT_PREFIX.test(r.trim()));
  const result = { ...emptyTlsRpt(), records };
  if (records.length === 0) return { ...result, status: TlsRptStatus.TLS_RPT_STATUS_NOT_PUBLISHED };
  if (records.length > 1) {
    return { ...result, status: TlsRptStatus.TLS_RPT_STATUS_INVALID, reason: `${records.length} _smtp._tls records begin v=TLSRPTv1; RFC 8460 §3 allows one, so senders send no reports` };
  }
  const fields = (records[0] ?? "").split(";").slice(1).map((f) => f.trim()).filter((f) => f !== "");
  const rua = fields.find((f) => /^rua[ \t]*=/i.test(f));
  if (rua === undefined) return { ...result, status: TlsRptStatus.TLS_RPT_STATUS_INVALID, reason: "the _smtp._tls record has no rua= field: senders have nowhere to send reports" };
  const uris = rua.slice(rua.indexOf("=") + 1).split(",").map((u) => u.trim()).filter((u) => u !== "");
  const bad = uris.filter((u) => !isReportUri(u));
  if (uris.length === 0 || bad.length > 0) {
    const what = uris.length === 0 ? "is empty" : `holds ${bad.slice(0, 3).map((u) => quote(u, 60)).join(", ")}, not a mailto: or https: URI`;
    return { ...result, status: TlsRptStatus.TLS_RPT_STATUS_INVALID, reason: `the rua= field of the _smtp._tls record ${what} (RFC 8460 §3)`, rua: uris.slice(0, MAX_URIS) };
  }
  return { ...result, status: TlsRptStatus.TLS_RPT_STATUS_VALID, rua: uris.slice(0, MAX_URIS) };
}

function isReportUri(uri: string): boolean {
  if (/^mailto:[^@\s]+@[^@\s]+$/i.test(uri)) return true;
  if (!/^https:\/\//i.test(uri)) return false;
  try {
    return new URL(uri).protocol === "https:";
  } catch {
    return false;
  }
}
