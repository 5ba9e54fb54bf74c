/**
 * The operator page's only script and stylesheet, served from memory (no build step, no CDN). The script talks to
 * the gateway's own /api with the session cookie; writes add `X-Gateway-UI` (see auth-middleware.ts). It renders
 * data with textContent only, never innerHTML.
 */
export const UI_SCRIPT = String.raw`'use strict';
(function () {
  var body = document.body;
  var page = body.dataset.page;

  function api(method, path, payload) {
    var headers = { 'X-Gateway-UI': '1' };
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
        function (json) { return { status: res.status, body: json }; },
        function () { return { status: res.status, body: {} }; }
      );
    });
  }
  function byId(id) { return document.getElementById(id); }
  function show(el, on) { el.hidden = !on; }
  function say(el, text) { el.textContent = text || ''; show(el, Boolean(text)); }
  function failure(res) {
    var b = res.body || {};
    return (b.error_code ? b.error_code + ': ' : '') + (b.error || b.message || 'HTTP ' + res.status) + (b.hint ? ' — ' + b.hint : '');
  }
  function cell(text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function listPage() {
    var tbody = document.querySelector('#channels tbody');
    var errorBox = byId('list-error');
    var engineBox = byId('engine-health');
    function engineHealth() {
      return api('GET', '/api/health').then(function (res) {
        var e = res.body && res.body.engine;
        if (!e || (e.reachable && e.secretKeyAccepted !== false)) return say(engineBox, '');
        say(engineBox, e.secretKeyAccepted === false
          ? 'The engine refuses WPPCONNECT_SECRET_KEY: ' + (e.hint || '')
          : 'The engine (WPPConnect) is unreachable' + (e.downSince ? ' since ' + e.downSince : '') +
            ': channel statuses are unknown until it answers again.');
      }).catch(function () {});
    }
    function refresh() {
      engineHealth();
      return api('GET', '/api/channels').then(function (res) {
        if (res.status !== 200) return say(errorBox, failure(res));
        say(errorBox, '');
        tbody.replaceChildren();
        if (!res.body.channels.length) {
          var empty = document.createElement('tr');
          empty.appendChild(cell('No channels yet.'));
          tbody.appendChild(empty);
        }
        res.body.channels.forEach(function (c) {
          var tr = document.createElement('tr');
          tr.dataset.channel = c.id;
          var name = document.createElement('td');
          var a = document.createElement('a');
          a.href = '/ui/channels/' + encodeURIComponent(c.id);
          a.textContent = c.name || c.id;
          name.appendChild(a);
          tr.appendChild(name);
          tr.appendChild(cell(c.status, 'status status-' + c.status));
          tr.appendChild(cell(c.since || ''));
          tr.appendChild(cell(c.lastError ? c.lastError.code : ''));
          tbody.appendChild(tr);
        });
      }).catch(function () {});
    }
    byId('create-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var name = byId('new-channel').value.trim();
      if (!name) return;
      byId('create').disabled = true;
      api('POST', '/api/channels?async=1', { channel: name }).then(function (res) {
        byId('create').disabled = false;
        var id = res.body.channel && (res.body.channel.id || res.body.channel);
        if (res.status < 300 || res.body.error_code === 'CHANNEL_ALREADY_CONNECTED') {
          location.href = '/ui/channels/' + encodeURIComponent(typeof id === 'string' ? id : name);
        } else say(errorBox, failure(res));
      }).catch(function () { byId('create').disabled = false; });
    });
    refresh();
    setInterval(refresh, 3000);
  }

  function channelPage() {
    var id = body.dataset.channel;
    var base = '/api/channels/' + encodeURIComponent(id);
    var qrBox = byId('qr-box');
    var qrImg = byId('qr');
    var actionError = byId('action-error');
    var current = null;

    function setQr(dataUrl, meta) {
      if (dataUrl) {
        qrImg.src = dataUrl;
        byId('qr-meta').textContent = meta || '';
      }
      show(qrBox, Boolean(dataUrl));
    }
    function fetchQr() {
      return api('GET', base + '/qr').then(function (res) {
        if (res.body.status === 'QRCODE' && res.body.qr) setQr(res.body.qr, 'refreshes by itself when WhatsApp rotates it');
        else if (res.body.status === 'CONNECTED') setQr(null);
      });
    }
    function render(channel) {
      var status = byId('status');
      var changed = current !== channel.status;
      current = channel.status;
      status.textContent = channel.status;
      status.className = 'status status-' + channel.status;
      byId('since').textContent = channel.since ? 'since ' + channel.since : '';
      var err = channel.lastError;
      show(byId('last-error'), Boolean(err));
      if (err) {
        byId('last-error-code').textContent = err.code;
        byId('last-error-message').textContent = err.message;
        byId('last-error-hint').textContent = err.hint || '';
      }
      if (channel.status !== 'qr_required' && channel.status !== 'starting') setQr(null);
      else if (changed || qrBox.hidden) fetchQr().catch(function () {});
    }
    function refresh() {
      if (leaving) return Promise.resolve();
      return api('GET', base).then(function (res) {
        if (leaving) return;
        if (res.status === 404) return leave();
        if (res.status === 200) render(res.body.channel);
      }).catch(function () {});
    }
    var leaving = false;
    function leave() {
      // One navigation only: a second one (the 3 s refresh finding the channel gone) would abort the first.
      if (leaving) return;
      leaving = true;
      location.href = '/ui';
    }
    function act(method, path, then) {
      say(actionError, '');
      return api(method, path).then(function (res) {
        if (res.status >= 300 && res.status !== 202) say(actionError, failure(res));
        else if (then) return then(res);
        return refresh();
      }).catch(function () {});
    }
    byId('start').addEventListener('click', function () { act('POST', base + '/start-session'); });
    byId('restart').addEventListener('click', function () { act('POST', base + '/restart'); });
    byId('delete').addEventListener('click', function () {
      if (!confirm('Delete ' + id + '? The session is logged out and closed in WPPConnect.')) return;
      act('DELETE', base, leave);
    });
    byId('diagnose').addEventListener('click', function () {
      api('GET', base + '/diagnose').then(function (res) {
        show(byId('diagnose-box'), true);
        byId('next-action').textContent = res.body.nextAction || failure(res);
        byId('diagnose-output').textContent = JSON.stringify(res.body, null, 2);
      }).catch(function () {});
    });

    // Live: the gateway's own SSE stream (qr.update on every rotation, session.status on every change).
    var events = new EventSource(base + '/events');
    events.addEventListener('qr.update', function (e) {
      var data = JSON.parse(e.data);
      if (data.qr) setQr(data.qr, 'QR #' + data.attempt + ', valid until ' + data.expiresAt);
    });
    events.addEventListener('session.status', function () { refresh(); });
    refresh();
    setInterval(refresh, 3000);
  }

  if (page === 'list') listPage();
  if (page === 'channel') channelPage();
})();
`;

export const UI_STYLE = `
:root { font-family: system-ui, sans-serif; color: #1d2327; background: #f6f7f7; }
body { margin: 0; }
header { display: flex; justify-content: space-between; align-items: center; padding: .75rem 1.5rem; background: #0b3d2e; }
header a.brand { color: #fff; font-weight: 600; text-decoration: none; }
header .logout button { background: transparent; color: #fff; border: 1px solid #fff6; }
main { max-width: 60rem; margin: 1.5rem auto; padding: 0 1.5rem; }
table { width: 100%; border-collapse: collapse; background: #fff; }
th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid #dcdcde; }
form.inline { display: flex; gap: .5rem; align-items: center; margin-bottom: 1rem; }
input { padding: .4rem .5rem; font: inherit; }
button { padding: .4rem .9rem; font: inherit; cursor: pointer; border-radius: 4px; border: 1px solid #8c8f94; background: #fff; }
button.danger { border-color: #b32d2e; color: #b32d2e; }
.actions { display: flex; gap: .5rem; margin: 1rem 0; }
.error { color: #b32d2e; }
.hint, .muted { color: #50575e; }
.status-connected { color: #00733b; }
.status-failed { color: #b32d2e; }
.status-qr_required, .status-starting, .status-retrying { color: #996800; }
#qr { image-rendering: pixelated; background: #fff; padding: .5rem; border: 1px solid #dcdcde; }
pre { background: #fff; border: 1px solid #dcdcde; padding: .75rem; overflow: auto; max-height: 30rem; }
#login-form { display: grid; gap: .5rem; max-width: 24rem; }
`;
