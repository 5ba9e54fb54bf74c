import { Router } from 'express';
import type { ChannelService } from '../channels/channel-service';
import type { Config } from '../config';
import { GatewayError } from '../errors';
import { withDeadline } from '../middleware/deadline-middleware';
import { channelIdParams, createChannelQuery, createChannelRequest } from './schemas';

export interface ChannelWebhookRequest {
  url: string;
  secret?: string;
  events?: string[];
}

export interface ChannelsRouterDeps {
  channels: ChannelService;
  config: Config;
  /** Registers a per-channel webhook subscription given in a create body (`webhookUrl` or `webhook:{…}`). */
  registerChannelWebhook?: (channelId: string, webhook: ChannelWebhookRequest) => Promise<unknown>;
  /**
   * Throws what registering `webhook` would throw (a refused URL, an unknown event), so a bad webhook is refused
   * before anything starts in the engine. Required with `registerChannelWebhook`.
   */
  validateChannelWebhook?: (webhook: ChannelWebhookRequest) => void;
  /** The URL a channel's events go to (per-channel subscription, else the global one), for GET /channels/:id. */
  webhookUrlOf?: (channelId: string) => string | null;
}

function wantsAsync(query: unknown, prefer: string | undefined): boolean {
  const flag = String(createChannelQuery.parse(query ?? {}).async ?? '').toLowerCase();
  return flag === '1' || flag === 'true' || /respond-async/i.test(prefer ?? '');
}

/** Hub-compatible channel routes (hub-contract.md §2.1–§2.7). Thin: validate → use-case → shape. */
export function createChannelsRouter(deps: ChannelsRouterDeps): Router {
  const { channels, config } = deps;
  const router = Router();

  const listHandler = (key: 'channels' | 'sessions') => (_req: unknown, res: import('express').Response) => {
    const list = channels.list();
    res.json({ success: true, [key]: list, total: list.length });
  };
  router.get('/channels', listHandler('channels'));
  router.get('/available-sessions', listHandler('sessions'));

  router.post('/channels', withDeadline(config.channels.createWaitMs + 1_500), async (req, res) => {
    const body = createChannelRequest.parse(req.body ?? {});
    const rawId = body.channel ?? body.name;
    if (!rawId) throw new GatewayError('VALIDATION_FAILED', { message: 'The body must carry "channel" (or "name")' });
    const isAsync = wantsAsync(req.query, req.get('prefer'));
    const webhook =
      body.webhook ?? (body.webhookUrl ? { url: body.webhookUrl, events: ['qr.update', 'session.status'] } : undefined);
    if (webhook && (!deps.registerChannelWebhook || !deps.validateChannelWebhook)) {
      throw new GatewayError('VALIDATION_FAILED', { message: 'Webhook subscriptions are not available' });
    }
    // A bad webhook is refused before anything starts in the engine, not after the session exists.
    if (webhook) deps.validateChannelWebhook!(webhook);
    const requestId = res.locals.requestId as string;
    const outcome = await channels.create(rawId, {
      waitMs: isAsync ? 0 : config.channels.createWaitMs,
      requestId,
      onClaimed: webhook ? (id) => deps.registerChannelWebhook!(id, webhook) : undefined,
    });
    const id = encodeURIComponent(outcome.channel.id);
    const links = {
      statusUrl: `/api/channels/${id}`,
      qrUrl: `/api/channels/${id}/qr`,
      eventsUrl: `/api/channels/${id}/events`,
    };
    if (isAsync) {
      res.status(202).json({
        success: true,
        channel: outcome.channel,
        status: outcome.qr.status,
        ...links,
        message: 'Starting; the QR code follows by webhook (qr.update) and on the events stream',
      });
      return;
    }
    res.status(outcome.created ? 201 : 200).json({
      success: true,
      channel: outcome.channel,
      status: outcome.qr.status,
      qr: outcome.qr.qr,
      qrcode: outcome.qr.qr,
      qr_required: outcome.qr.status !== 'CONNECTED',
      message: outcome.created ? 'Session created successfully' : 'Session started',
      ...(outcome.qr.lastError ? { lastError: outcome.qr.lastError } : {}),
      ...links,
    });
  });

  router.get('/channels/:id', (req, res) => {
    const channel = channels.get(channelIdParams.parse(req.params).id);
    // The Hub's webhook script looks for channel.webhook or channel.webhook_url (hub-contract.md §2.10).
    const webhook = deps.webhookUrlOf?.(channel.id) ?? null;
    res.json({
      success: true,
      channel: { ...channel, webhook, webhook_url: webhook },
      status: channel.status,
      connected: channel.connected,
    });
  });

  router.delete('/channels/:id', async (req, res) => {
    const result = await channels.delete(channelIdParams.parse(req.params).id, res.locals.requestId as string);
    // Always 2xx (hub-contract.md §2.4: the Hub's restart ignores the result and creates again); what could not be
    // verified is said in the body.
    res.json({
      success: true,
      ...result,
      message: !result.deleted
        ? 'Session did not exist'
        : result.verified
          ? 'Session deleted'
          : `Session deleted, but not verified: ${result.unverified?.join('; ')}`,
    });
  });

  const qrBody = (channel: string, answer: Awaited<ReturnType<ChannelService['qr']>>['answer']) => ({
    success: true,
    channel,
    status: answer.status,
    qr: answer.qr,
    qrcode: answer.qr,
    message: answer.message,
    ...(answer.lastError ? { lastError: answer.lastError } : {}),
  });

  router.get('/channels/:id/qr', withDeadline(config.channels.qrRouteDeadlineMs + 400), async (req, res) => {
    const { channel, answer } = await channels.qr(channelIdParams.parse(req.params).id, res.locals.requestId as string);
    res.json(qrBody(channel, answer));
  });

  router.post(
    '/channels/:id/start-session',
    withDeadline(config.channels.startRouteDeadlineMs + 400),
    async (req, res) => {
      const { id } = channelIdParams.parse(req.params);
      const { channel, answer } = await channels.startSession(id, res.locals.requestId as string);
      res.json(qrBody(channel, answer));
    },
  );

  router.post('/channels/:id/restart', withDeadline(config.channels.startRouteDeadlineMs + 400), async (req, res) => {
    const { channel, answer } = await channels.restart(
      channelIdParams.parse(req.params).id,
      res.locals.requestId as string,
    );
    res.json(qrBody(channel, answer));
  });

  router.get('/channels/:id/diagnose', async (req, res) => {
    res.json({ success: true, ...(await channels.diagnose(channelIdParams.parse(req.params).id)) });
  });

  return router;
}
