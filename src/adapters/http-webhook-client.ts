import axios, { type AxiosInstance } from 'axios';

/** The outgoing side of webhook delivery: one POST, a per-attempt timeout, and an outcome we can classify. */
export interface WebhookResponse {
  status: number;
  retryAfterSeconds?: number;
  bodySnippet: string;
}

export interface WebhookClient {
  post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<WebhookResponse>;
}

export class WebhookNetworkError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network',
  ) {
    super(message);
    this.name = 'WebhookNetworkError';
  }
}

export function createHttpWebhookClient(): WebhookClient {
  const http: AxiosInstance = axios.create({
    validateStatus: () => true,
    // A receiver must answer itself; following redirects could send our signed body to another host.
    maxRedirects: 0,
    maxBodyLength: Infinity,
    responseType: 'text',
    transformResponse: (data: unknown) => data,
  });
  return {
    async post(url, body, headers, timeoutMs) {
      try {
        const res = await http.post(url, body, {
          headers,
          timeout: timeoutMs,
          signal: AbortSignal.timeout(timeoutMs + 100),
        });
        const retryAfter = Number(res.headers['retry-after']);
        return {
          status: res.status,
          ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: retryAfter } : {}),
          bodySnippet: String(res.data ?? '').slice(0, 300),
        };
      } catch (error) {
        const code = (error as { code?: string }).code ?? '';
        const timeout = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED';
        throw new WebhookNetworkError(
          `${code || 'network error'}: ${(error as Error).message}`,
          timeout ? 'timeout' : 'network',
        );
      }
    },
  };
}
