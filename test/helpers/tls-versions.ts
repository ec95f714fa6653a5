// Short names for the TLS scan's protocol versions, for tables in tests.
import { TlsVersion } from "../../gen/smtpprobe/v1/handshake.js";

export const SSL3 = TlsVersion.TLS_VERSION_SSL_3_0;
export const V10 = TlsVersion.TLS_VERSION_TLS_1_0;
export const V11 = TlsVersion.TLS_VERSION_TLS_1_1;
export const V12 = TlsVersion.TLS_VERSION_TLS_1_2;
export const V13 = TlsVersion.TLS_VERSION_TLS_1_3;
