// @ts-check
/**
 * The operator page's only script, served as written at /ui/app.js (no build step, no CDN; the page's CSP allows
 * `script-src 'self'` only). It talks to the gateway's own /api with the session cookie; writes add `X-Gateway-UI`
 * (see src/middleware/auth-middleware.ts). It renders data with textContent only, never innerHTML.
 * Type-checked against the DOM by src/ui/browser/tsconfig.json (test/unit/ui/operator-script.test.ts runs it).
 */
'use strict';
(function () {
  /** @typedef {{ status: number, body: Record<string, any> }} ApiReply */

  const body = document.body;
  const page = body.dataset.page;

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [payload]
   * @returns {Promise<ApiReply>}
   */
  function api(method, path, payload) {
    /** @type {Record<string, string>} */
    const headers = { 'X-Gateway-UI': '1' };
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(path, {
      method: method,
      headers: headers,
      credentials: 'same-origin',
      body: payload === undefined ? undefined : JSON.stringify(payload),
    }).then(function (res) {
      if (res.status === 401) {
        location.href = '/ui/login';
        throw new Error('logged out');
      }
      return res.json().then(
        function (json) {
          return { status: res.status, body: json };
        },
        function () {
          return { status: res.status, body: {} };
        },
      );
    });
  }

  /**
   * The element with this id, of this type: the pages (src/ui/ui-pages.ts) always render it.
   * @template {HTMLElement} T
   * @param {string} id
   * @param {{ new (): T }} type
   * @returns {T}
   */
  function byId(id, type) {
    const el = document.getElementById(id);
    if (!(el instanceof type)) throw new Error('#' + id + ' is missing from the page');
    return el;
  }
  /** @param {string} id */
  const element = (id) => byId(id, HTMLElement);
  /** @param {HTMLElement} el @param {boolean} on */
  function show(el, on) {
    el.hidden = !on;
  }
  /** @param {HTMLElement} el @param {string} [text] */
  function say(el, text) {
    el.textContent = text || '';
    show(el, Boolean(text));
  }
  /** @param {ApiReply} res */
  function failure(res) {
    const b = res.body || {};
    return (
      (b.error_code ? b.error_code + ': ' : '') +
      (b.error || b.message || 'HTTP ' + res.status) +
      (b.hint ? ' — ' + b.hint : '')
    );
  }
  /** @param {string} text @param {string} [cls] */
  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function listPage() {
    const rows = document.querySelector('#channels tbody');
    if (!rows) throw new Error('#channels tbody is missing from the page');
    const tbody = rows;
    const errorBox = element('list-error');
    const engineBox = element('engine-health');
    const createButton = byId('create', HTMLButtonElement);
    function engineHealth() {
      return api('GET', '/api/health')
        .then(function (res) {
          /** @type {Array<Record<string, any>>} */
          const engines = (res.body && (res.body.engines || (res.body.engine ? [res.body.engine] : []))) || [];
          const several = engines.length > 1;
          const problems = engines
            .filter(function (e) {
              return !e.reachable || e.secretKeyAccepted === false;
            })
            .map(function (e) {
              const name = several ? 'Engine ' + e.id : 'The engine';
              return e.secretKeyAccepted === false
                ? name + ' refuses its secret key: ' + (e.hint || '')
                : name +
                    ' (WPPConnect) is unreachable' +
                    (e.downSince ? ' since ' + e.downSince : '') +
                    ': ' +
                    (several ? 'its' : '') +
                    ' channel statuses are unknown until it answers again.';
            });
          say(engineBox, problems.join(' '));
        })
        .catch(function () {});
    }
    const engineRows = document.querySelector('#engines tbody');
    function engineList() {
      return api('GET', '/api/engines')
        .then(function (res) {
          if (res.status !== 200 || !engineRows) return;
          engineRows.replaceChildren();
          res.body.engines.forEach(
            /** @param {Record<string, any>} e */
            function (e) {
              const tr = document.createElement('tr');
              tr.dataset.engine = e.id;
              tr.appendChild(cell(e.id));
              const h = e.health || {};
              tr.appendChild(
                cell(
                  h.state !== 'closed'
                    ? 'unreachable'
                    : h.secretKeyAccepted === false
                      ? 'refuses its secret key'
                      : 'up',
                  'status status-' + (h.state === 'closed' && h.secretKeyAccepted !== false ? 'connected' : 'failed'),
                ),
              );
              tr.appendChild(cell(String(e.channels)));
              tr.appendChild(cell(e.capacity === null ? 'no limit' : String(e.capacity)));
              tr.appendChild(cell(e.placeable ? 'yes' : 'no'));
              engineRows.appendChild(tr);
            },
          );
        })
        .catch(function () {});
    }
    function refresh() {
      engineHealth();
      engineList();
      return api('GET', '/api/channels')
        .then(function (res) {
          if (res.status !== 200) return say(errorBox, failure(res));
          say(errorBox, '');
          tbody.replaceChildren();
          if (!res.body.channels.length) {
            const empty = document.createElement('tr');
            empty.appendChild(cell('No channels yet.'));
            tbody.appendChild(empty);
          }
          res.body.channels.forEach(
            /** @param {Record<string, any>} c */
            function (c) {
              const tr = document.createElement('tr');
              tr.dataset.channel = c.id;
              const name = document.createElement('td');
              const a = document.createElement('a');
              a.href = '/ui/channels/' + encodeURIComponent(c.id);
              a.textContent = c.name || c.id;
              name.appendChild(a);
              tr.appendChild(name);
              tr.appendChild(cell(c.status, 'status status-' + c.status));
              // Several gateway instances: which one drives the channel (its URL; the id adds the process).
              const driver = typeof c.instance === 'string' ? ' · ' + c.instance.split('#')[0] : '';
              tr.appendChild(cell((c.engine || '') + driver));
              tr.appendChild(cell(c.since || ''));
              tr.appendChild(cell(c.lastError ? c.lastError.code : ''));
              tbody.appendChild(tr);
            },
          );
        })
        .catch(function () {});
    }
    element('create-form').addEventListener('submit', function (event) {
      event.preventDefault();
      const name = byId('new-channel', HTMLInputElement).value.trim();
      if (!name) return;
      createButton.disabled = true;
      api('POST', '/api/channels?async=1', { channel: name })
        .then(function (res) {
          createButton.disabled = false;
          const id = res.body.channel && (res.body.channel.id || res.body.channel);
          if (res.status < 300 || res.body.error_code === 'CHANNEL_ALREADY_CONNECTED') {
            location.href = '/ui/channels/' + encodeURIComponent(typeof id === 'string' ? id : name);
          } else say(errorBox, failure(res));
        })
        .catch(function () {
          createButton.disabled = false;
        });
    });
    refresh();
    setInterval(refresh, 3000);
  }

  function channelPage() {
    const id = body.dataset.channel || '';
    const base = '/api/channels/' + encodeURIComponent(id);
    const qrBox = element('qr-box');
    const qrImg = byId('qr', HTMLImageElement);
    const actionError = element('action-error');
    /** @type {string | null} */
    let current = null;
    let leaving = false;

    /** @param {string | null} dataUrl @param {string} [meta] */
    function setQr(dataUrl, meta) {
      if (dataUrl) {
        qrImg.src = dataUrl;
        element('qr-meta').textContent = meta || '';
      }
      show(qrBox, Boolean(dataUrl));
    }
    function fetchQr() {
      return api('GET', base + '/qr').then(function (res) {
        if (res.body.status === 'QRCODE' && res.body.qr)
          setQr(res.body.qr, 'refreshes by itself when WhatsApp rotates it');
        else if (res.body.status === 'CONNECTED') setQr(null);
      });
    }
    /** @param {Record<string, any>} channel */
    function render(channel) {
      const status = element('status');
      const changed = current !== channel.status;
      current = channel.status;
      status.textContent = channel.status;
      status.className = 'status status-' + channel.status;
      element('since').textContent = channel.since ? 'since ' + channel.since : '';
      const err = channel.lastError;
      show(element('last-error'), Boolean(err));
      if (err) {
        element('last-error-code').textContent = err.code;
        element('last-error-message').textContent = err.message;
        element('last-error-hint').textContent = err.hint || '';
      }
      if (channel.status !== 'qr_required' && channel.status !== 'starting') setQr(null);
      else if (changed || qrBox.hidden) fetchQr().catch(function () {});
    }
    /** @returns {Promise<void>} */
    function refresh() {
      if (leaving) return Promise.resolve();
      return api('GET', base)
        .then(function (res) {
          if (leaving) return;
          if (res.status === 404) return leave();
          if (res.status === 200) render(res.body.channel);
        })
        .catch(function () {});
    }
    function leave() {
      // One navigation only: a second one (the 3 s refresh finding the channel gone) would abort the first.
      if (leaving) return;
      leaving = true;
      location.href = '/ui';
    }
    /**
     * @param {string} method
     * @param {string} path
     * @param {(res: ApiReply) => unknown} [then]
     */
    function act(method, path, then) {
      say(actionError, '');
      return api(method, path)
        .then(function (res) {
          if (res.status >= 300 && res.status !== 202) say(actionError, failure(res));
          else if (then) return then(res);
          return refresh();
        })
        .catch(function () {});
    }
    element('start').addEventListener('click', function () {
      act('POST', base + '/start-session');
    });
    element('restart').addEventListener('click', function () {
      act('POST', base + '/restart');
    });
    element('delete').addEventListener('click', function () {
      if (!confirm('Delete ' + id + '? The session is logged out and closed in WPPConnect.')) return;
      act('DELETE', base, leave);
    });
    element('diagnose').addEventListener('click', function () {
      api('GET', base + '/diagnose')
        .then(function (res) {
          show(element('diagnose-box'), true);
          element('next-action').textContent = res.body.nextAction || failure(res);
          element('diagnose-output').textContent = JSON.stringify(res.body, null, 2);
        })
        .catch(function () {});
    });

    // Live: the gateway's own SSE stream (qr.update on every rotation, session.status on every change).
    const events = new EventSource(base + '/events');
    events.addEventListener(
      'qr.update',
      /** @param {MessageEvent<string>} e */
      function (e) {
        const data = JSON.parse(e.data);
        if (data.qr) setQr(data.qr, 'QR #' + data.attempt + ', valid until ' + data.expiresAt);
      },
    );
    events.addEventListener('session.status', function () {
      refresh();
    });
    refresh();
    setInterval(refresh, 3000);
  }

  if (page === 'list') listPage();
  if (page === 'channel') channelPage();
})();
