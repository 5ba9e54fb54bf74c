/**
 * The webhooks the engine sends: delivery and the record `control.webhooks()` shows. Which URL, which events and
 * which payload is the engine model's business (sim/engine-model.ts, `callWebHook`); this only posts and records.
 */

export interface RecordedWebhook {
  session: string;
  url: string;
  event: string;
  /** The payload, with long strings shortened like RecordedCall.body. */
  body: Record<string, unknown>;
  at: number;
  /** The receiver's HTTP status, or 0 when the POST failed. Undefined while in flight. */
  status?: number;
}

const LONG_STRING = 200;

/** Recorded payloads (calls, webhooks) keep strings up to 200 chars; longer ones become `<48 chars>…[N chars]`. */
export function shorten(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value ?? {}, (_key, v: unknown) =>
      typeof v === 'string' && v.length > LONG_STRING ? `${v.slice(0, 48)}…[${v.length} chars]` : v,
    ),
  ) as unknown;
}

export class WebhookSender {
  private readonly sent: RecordedWebhook[] = [];
  // One delivery chain per session. The real server fires each webhook as its own POST, which can arrive out of
  // order; the simulator sends them in order so tests can assert the gateway keeps the order it received.
  private readonly chains = new Map<string, Promise<void>>();
  private readonly aborter = new AbortController();

  /** POSTs `payload` as axios does (no retry, errors swallowed), after the session's earlier webhooks. */
  post(session: string, url: string, event: string, payload: Record<string, unknown>): void {
    const record: RecordedWebhook = {
      session,
      url,
      event,
      body: shorten(payload) as Record<string, unknown>,
      at: Date.now(),
    };
    this.sent.push(record);
    const body = JSON.stringify(payload);
    const previous = this.chains.get(session) ?? Promise.resolve();
    const next = previous.then(() =>
      fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'axios/1.7.9' },
        body,
        // The real POST has no timeout; this one has a long one only so a hung receiver cannot wedge the chain.
        signal: AbortSignal.any([this.aborter.signal, AbortSignal.timeout(30_000)]),
      })
        .then(async (res) => {
          record.status = res.status;
          await res.arrayBuffer();
        })
        .catch(() => {
          record.status = 0;
        }),
    );
    this.chains.set(session, next);
  }

  list(): RecordedWebhook[] {
    return this.sent.map((w) => ({ ...w }));
  }

  clear(): void {
    this.sent.length = 0;
  }

  /** Resolves once every webhook queued so far has been answered (or failed). */
  async flush(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  /** Aborts every POST in flight (the simulator is disposed). */
  abort(): void {
    this.aborter.abort();
  }
}
