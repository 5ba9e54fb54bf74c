import path from 'node:path';
import { ESLint } from 'eslint';

/**
 * The layer rules in eslint.config.js bite: each one is shown a deliberately wrong import in a file of the layer it
 * guards (the files need not exist; ESLint picks the config by path), and an allowed import next to it stays clean.
 */
const ROOT = path.resolve(__dirname, '../..');
let eslint: ESLint;

beforeAll(() => {
  // The project's own config, handed over as an object: ESLint loads config files with import(), which jest's VM
  // does not allow.
  eslint = new ESLint({ cwd: ROOT, overrideConfigFile: true, overrideConfig: require('../../eslint.config.js') });
});

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, filePath) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('eslint.config.js: layers', () => {
  test.each([
    [
      'a route imports src/store/',
      'src/routes/probe-router.ts',
      "import type { Db } from '../store/database';",
      /never src\/store\//,
    ],
    [
      'a route imports a *-repository module',
      'src/routes/probe-router.ts',
      "import { validateSubscription } from '../events/subscription-repository';",
      /never a \*-repository module/,
    ],
    [
      'the operator page imports a repository',
      'src/ui/probe.ts',
      "import { SubscriptionRepository } from '../events/subscription-repository';",
      /never a \*-repository module/,
    ],
    [
      'a route imports an adapter value, not its type',
      'src/routes/probe-router.ts',
      "import { EngineCircuit } from '../adapters/engine-circuit';",
      /as types only/,
    ],
    [
      'middleware imports an adapter value',
      'src/middleware/probe-middleware.ts',
      "import { createHttpWebhookClient } from '../adapters/http-webhook-client';",
      /as types only/,
    ],
    [
      'a use-case imports the WPPConnect client',
      'src/channels/probe.ts',
      "import type { EngineCallRecord } from '../adapters/wppconnect/wppconnect-client';",
      /Only src\/adapters\/wppconnect\/ and the composition root/,
    ],
    [
      'metrics import the WPPConnect client',
      'src/metrics/probe.ts',
      "import type { EngineCallRecord } from '../adapters/wppconnect/wppconnect-client';",
      /Only src\/adapters\/wppconnect\/ and the composition root/,
    ],
    [
      'a route imports the WPPConnect adapter',
      'src/routes/probe-router.ts',
      "import type { WppconnectAdapter } from '../adapters/wppconnect/wppconnect-adapter';",
      /Only src\/adapters\/wppconnect\/ and the composition root/,
    ],
    [
      'another adapter imports the WPPConnect client',
      'src/adapters/probe.ts',
      "import { WppconnectClient } from './wppconnect/wppconnect-client';",
      /Only src\/adapters\/wppconnect\/ and the composition root/,
    ],
    [
      'the app imports the WPPConnect adapter',
      'src/app.ts',
      "import { createWppconnectAdapter } from './adapters/wppconnect/wppconnect-adapter';",
      /Only src\/adapters\/wppconnect\/ and the composition root/,
    ],
    [
      'a use-case imports a router',
      'src/channels/probe.ts',
      "import { createChannelsRouter } from '../routes/channels-router';",
      /do not depend on the HTTP layer/,
    ],
    [
      'a use-case imports middleware',
      'src/messages/probe.ts',
      "import { withDeadline } from '../middleware/deadline-middleware';",
      /do not depend on the HTTP layer/,
    ],
    [
      'a use-case imports the composition root',
      'src/events/probe.ts',
      "import { buildGateway } from '../gateway';",
      /Only the composition root/,
    ],
    ['a use-case imports Express', 'src/messages/probe.ts', "import { Router } from 'express';", /know Express/],
    [
      'an adapter imports a use-case',
      'src/adapters/probe.ts',
      "import type { ChannelService } from '../channels/channel-service';",
      /bottom layer/,
    ],
    [
      'the WPPConnect adapter imports the event pipeline',
      'src/adapters/wppconnect/probe.ts',
      "import { EventPipeline } from '../../events/event-pipeline';",
      /bottom layer/,
    ],
    [
      'the store imports a use-case',
      'src/store/probe.ts',
      "import { SubscriptionRepository } from '../events/subscription-repository';",
      /bottom layer/,
    ],
    ['an adapter imports Express', 'src/adapters/probe.ts', "import type { Request } from 'express';", /know Express/],
    ['a use-case imports axios', 'src/events/probe.ts', "import axios from 'axios';", /HTTP clients live in/],
    ['a route imports p-retry', 'src/routes/probe-router.ts', "import pRetry from 'p-retry';", /Retries live in/],
    ['the composition root imports axios', 'src/gateway.ts', "import axios from 'axios';", /HTTP clients live in/],
    [
      'a use-case imports the simulator',
      'src/messages/probe.ts',
      "import { startSimulator } from '../../sim/wppconnect-sim';",
      /never imports the simulator/,
    ],
    [
      'the composition root imports the simulator',
      'src/gateway.ts',
      "import { startSimulator } from '../sim/wppconnect-sim';",
      /never imports the simulator/,
    ],
    [
      'the WPPConnect adapter imports the simulator',
      'src/adapters/wppconnect/probe.ts',
      "import { recorded } from '../../../sim/recorded';",
      /never imports the simulator/,
    ],
  ])('When %s, then lint fails with the layer rule', async (_name, filePath, code, expected) => {
    // Act
    const messages = await restrictedImports(filePath, code);

    // Assert
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(expected);
  });

  test.each([
    [
      'the composition root constructs the WPPConnect adapter',
      'src/gateway.ts',
      "import { createWppconnectAdapter } from './adapters/wppconnect/wppconnect-adapter';",
    ],
    [
      'a route imports the adapter interface as a type',
      'src/routes/probe-router.ts',
      "import type { EngineAdapter } from '../adapters/engine-adapter';",
    ],
    [
      'a route imports a use-case',
      'src/routes/probe-router.ts',
      "import type { ChannelService } from '../channels/channel-service';",
    ],
    [
      'a use-case imports the store and the adapter interface',
      'src/channels/probe.ts',
      "import { ChannelRepository } from '../store/channel-repository';\nimport type { EngineAdapter } from '../adapters/engine-adapter';",
    ],
    [
      'the WPPConnect client imports axios and its sibling',
      'src/adapters/wppconnect/probe.ts',
      "import axios from 'axios';\nimport { normalizeQr } from './qr';",
    ],
    [
      'the store implements an adapter interface',
      'src/store/probe.ts',
      "import type { TokenStore } from '../adapters/engine-adapter';",
    ],
  ])('When %s, then the layer rules allow it', async (_name, filePath, code) => {
    // Act
    const messages = await restrictedImports(filePath, code);

    // Assert
    expect(messages).toEqual([]);
  });
});
