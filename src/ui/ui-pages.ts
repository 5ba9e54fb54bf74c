/** Server-rendered pages of the operator UI. Every interpolated value goes through `esc`. */

export function esc(value: unknown): string {
  return String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

function layout(title: string, page: string, body: string, data: Record<string, string> = {}): string {
  const attrs = Object.entries({ page, ...data })
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · WPPConnect gateway</title>
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body${attrs}>
<header><a href="/ui" class="brand">WPPConnect gateway</a>${
    page === 'login'
      ? ''
      : `<form method="post" action="/ui/logout" class="logout"><button type="submit">Log out</button></form>`
  }</header>
<main>
${body}
</main>
</body>
</html>
`;
}

export function loginPage(error?: string): string {
  return layout(
    'Log in',
    'login',
    `<h1>Operator log-in</h1>
${error ? `<p class="error" role="alert" id="login-error">${esc(error)}</p>` : ''}
<form method="post" action="/ui/login" id="login-form">
  <label for="secret">Gateway secret (<code>GATEWAY_SECRET</code>)</label>
  <input type="password" id="secret" name="secret" autocomplete="current-password" required autofocus>
  <button type="submit">Log in</button>
</form>`,
  );
}

export function listPage(version: string): string {
  return layout(
    'Channels',
    'list',
    `<h1>Channels</h1>
<form id="create-form" class="inline">
  <label for="new-channel">New channel</label>
  <input id="new-channel" name="channel" placeholder="channel id, e.g. pixel12digital" required pattern="[^/]{1,64}">
  <button type="submit" id="create">Create</button>
</form>
<p class="error" role="alert" id="list-error" hidden></p>
<p class="error" role="status" id="engine-health" hidden></p>
<table id="channels">
  <thead><tr><th>Channel</th><th>Status</th><th>Engine</th><th>Since</th><th>Last error</th></tr></thead>
  <tbody><tr><td colspan="5">Loading…</td></tr></tbody>
</table>
<h2>Engines</h2>
<table id="engines">
  <thead><tr><th>Engine</th><th>Health</th><th>Channels</th><th>Capacity</th><th>Takes new channels</th></tr></thead>
  <tbody><tr><td colspan="5">Loading…</td></tr></tbody>
</table>
<p class="muted">Gateway ${esc(version)} · <a href="/api/openapi.json">OpenAPI</a> · statuses refresh every 3 s</p>`,
  );
}

export function channelPage(channel: { id: string; name: string }): string {
  return layout(
    channel.name,
    'channel',
    `<p><a href="/ui">← Channels</a></p>
<h1>${esc(channel.name)}</h1>
<p>Status: <strong id="status" class="status">…</strong> <span class="muted" id="since"></span></p>
<div class="actions">
  <button type="button" id="start">Start</button>
  <button type="button" id="restart">Restart</button>
  <button type="button" id="diagnose">Diagnose</button>
  <button type="button" id="delete" class="danger">Delete</button>
</div>
<p class="error" role="alert" id="action-error" hidden></p>
<section id="qr-box" hidden>
  <h2>Scan with WhatsApp</h2>
  <img id="qr" alt="WhatsApp QR code" width="264" height="264">
  <p class="muted" id="qr-meta"></p>
</section>
<section id="last-error" hidden>
  <h2>Last error</h2>
  <p><code id="last-error-code"></code> <span id="last-error-message"></span></p>
  <p class="hint" id="last-error-hint"></p>
</section>
<section id="diagnose-box" hidden>
  <h2>Diagnose</h2>
  <p id="next-action"></p>
  <pre id="diagnose-output"></pre>
</section>`,
    { channel: channel.id },
  );
}

export function notFoundPage(id: string): string {
  return layout(
    'Not found',
    'missing',
    `<h1>Channel not found</h1><p>No channel <code>${esc(id)}</code>. <a href="/ui">Back to the channels</a>.</p>`,
  );
}
