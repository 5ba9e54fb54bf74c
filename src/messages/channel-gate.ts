/**
 * What messaging needs from the channel registry. `ChannelService` implements it; tests pass a fake.
 */
export interface ChannelGate {
  /** Canonical channel id (case/whitespace-insensitive lookup) or throws GatewayError CHANNEL_NOT_FOUND. */
  resolve(idOrAlias: string): string;
  /** Throws GatewayError SESSION_DISCONNECTED (error "Session disconnected") unless the gateway believes the channel is connected. */
  requireConnected(channelId: string): void;
  /** Zombie signal: the engine answered "A sessão do WhatsApp não está ativa." while we believed it connected. */
  reportNotActive(channelId: string, requestId?: string): void;
}
