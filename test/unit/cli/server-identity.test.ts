import { describe, expect, it } from "vitest";
import { classifyFirstBytes, type ServerIdentity } from "../../../cli/server-identity.js";

describe("classifyFirstBytes", () => {
  it.each<[string, Buffer, ServerIdentity]>([
    ["nothing", Buffer.alloc(0), { kind: "silent" }],
    ["an SMTP greeting", Buffer.from("220 mx.example.com ESMTP Postfix\r\n"), { kind: "smtp", greeting: "220 mx.example.com ESMTP Postfix" }],
    ["an SMTP refusal, multi-line", Buffer.from("554-go away\r\n554 really\r\n"), { kind: "smtp", greeting: "554-go away" }],
    ["an HTTP/1.1 answer to the HTTP/2 preface", Buffer.from("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"), { kind: "http1", statusLine: "HTTP/1.1 400 Bad Request" }],
    ["a SETTINGS frame: plaintext HTTP/2", Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]), { kind: "http2" }],
    ["a TLS alert", Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]), { kind: "tls" }],
    ["a TLS handshake record", Buffer.from([0x16, 0x03, 0x03, 0x00, 0x10]), { kind: "tls" }],
    ["an SSH server", Buffer.from("SSH-2.0-OpenSSH_9.6\r\n"), { kind: "other", firstLine: "SSH-2.0-OpenSSH_9.6" }],
    ["bytes made printable and cut", Buffer.from(`\x00\x1b[2J${"x".repeat(100)}\n`), { kind: "other", firstLine: `\\x00\\x1b[2J${"x".repeat(69)}…` }],
  ])("%s", (_, bytes, identity) => {
    expect(classifyFirstBytes(bytes)).toEqual(identity);
  });
});
