// smtp-server waits 100 ms before its greeting to catch clients that talk too soon
// (SMTPConnection.init, a fixed setTimeout with no option). A bench that measures the client, not
// that sleep, takes it out in the process that runs the fixture: the same body as
// SMTPConnection.prototype.init minus its `setTimeout(connectionReady, 100)` (the maxClients check
// is left out: the fixtures set no maxClients).
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";

export function removeEarlyTalkerPause(): void {
  SMTPConnection.prototype.init = function init(this: SMTPConnection): void {
    this._setListeners(() => this.connectionReady());
  };
}
