import type { ChildProcess } from 'node:child_process';
import type { Response } from 'express';

/**
 * One entry of the server's `clientsArray[session]`. Before login it is a *placeholder* object (no isConnected or
 * close), after the scan it is the library client. Most of the engine's quirks fall out of that distinction.
 */

export type Status = 'INITIALIZING' | 'QRCODE' | 'CONNECTED' | 'CLOSED' | null;
export type Browser = 'none' | 'running' | 'dead';

export interface Client {
  name: string;
  status: Status;
  /** The `{status:null}` entry close-session leaves behind has no `session` field until the next login (§2.2). */
  hasSessionField: boolean;
  /** true once the library client replaced the placeholder (it has isConnected, close, send…). */
  loggedIn: boolean;
  browser: Browser;
  phoneOnline: boolean;
  /** The last start-session body; undefined on the reset entry (its webhooks then go to the global URL). */
  config: Record<string, unknown> | undefined;
  /** Never cleared once set: the source of the stale QR (§2.2). */
  urlcode?: string;
  qrAttempt: number;
  /** The last launch failed (sim/launch-failures.ts): no QR will come and no scan is possible. */
  launchFailed: boolean;
  /** Process mode: the real process of this entry's browser while it runs. */
  proc?: BrowserProc;
  /** The page loaded without WhatsApp Web: the library is still waiting for WPP (logs "wapi.js failed" later). */
  wapiPending: boolean;
  phone: string;
  /** Bumped whenever the entry stops running; callbacks scheduled for an older epoch do nothing. */
  epoch: number;
  timers: Set<NodeJS.Timeout>;
  /** start-session requests with waitQrCode:true waiting for the first QR. */
  waiters: Response[];
}

/** A real browser stand-in process (process mode). */
export interface BrowserProc {
  child: ChildProcess;
  pid: number;
  profile: string;
  /** The entry this browser belongs to: the current one, or an orphan left behind by close-session. */
  owner: Client;
  /** The simulator ends it itself (close, autoclose, logout, dispose): the exit handler then does nothing. */
  closing: boolean;
  alive: boolean;
  exited: Promise<void>;
}

/** A fresh entry: a start creates one with `session`; close-session leaves one without (`{status:null}`). */
export function newClient(name: string, hasSessionField: boolean, phone: string): Client {
  return {
    name,
    status: null,
    hasSessionField,
    loggedIn: false,
    browser: 'none',
    phoneOnline: true,
    config: undefined,
    qrAttempt: 0,
    launchFailed: false,
    wapiPending: false,
    phone,
    epoch: 0,
    timers: new Set(),
    waiters: [],
  };
}
