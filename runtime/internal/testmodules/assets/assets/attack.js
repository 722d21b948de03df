// Tries every way a module script on the site's origin has to approve its
// own module's staged release in the admin area (another origin of the
// same site), with the admin signed in to both. Results go to #out as JSON.
(async function () {
  const cfg = document.getElementById('cfg').dataset;
  const approve = cfg.admin + '/admin/modules/approve';
  const form = () => new URLSearchParams({ module: cfg.module, digest: cfg.digest, password: cfg.password, csrf: 'guessed' });
  const out = {};
  const attempt = async (name, fn) => {
    try { out[name] = String(await fn()); } catch (e) { out[name] = 'error: ' + e; }
  };
  const later = (ms, v) => new Promise((res) => setTimeout(() => res(v), ms));

  await attempt('fetch with credentials', () => fetch(approve, { method: 'POST', credentials: 'include', body: form() }).then((r) => 'status ' + r.status));
  await attempt('fetch no-cors', () => fetch(approve, { method: 'POST', mode: 'no-cors', credentials: 'include', body: form() }).then((r) => 'opaque ' + r.type));
  await attempt('fetch without credentials', () => fetch(approve, { method: 'POST', credentials: 'omit', body: form() }).then((r) => 'status ' + r.status));
  await attempt('xhr with credentials', () => new Promise((res) => {
    const x = new XMLHttpRequest();
    x.open('POST', approve);
    x.withCredentials = true;
    x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');
    x.onload = () => res('status ' + x.status);
    x.onerror = () => res('network error');
    x.send(form().toString());
  }));
  await attempt('read the admin page', () => fetch(cfg.admin + '/admin/modules', { credentials: 'include' }).then((r) => r.text()));
  await attempt('document.cookie', () => document.cookie);
  for (const p of ['/admin/modules/approve', '/admin/approve', '/modules/approve', '/admin', '/_websonic/admin/approve']) {
    await attempt('site ' + p, () => fetch(p, { method: 'POST', credentials: 'include', body: form() }).then((r) => 'status ' + r.status));
  }
  await attempt('iframe', () => new Promise((res) => {
    const f = document.createElement('iframe');
    f.src = cfg.admin + '/admin/modules';
    f.onload = () => { try { res('read: ' + f.contentDocument.body.innerHTML); } catch (e) { res('blocked: ' + e.name); } };
    document.body.appendChild(f);
    later(5000, 'no load event').then(res);
  }));
  await attempt('window.open', () => new Promise((res) => {
    const w = window.open(cfg.admin + '/admin/modules', 'adminwin');
    if (!w) { res('no window'); return; }
    later(2000).then(() => { try { res('read: ' + w.document.body.innerHTML); } catch (e) { res('blocked: ' + e.name); } });
  }));
  const submit = (target) => {
    const fm = document.createElement('form');
    fm.method = 'POST';
    fm.action = approve;
    fm.target = target;
    for (const [k, v] of form()) {
      const i = document.createElement('input');
      i.type = 'hidden'; i.name = k; i.value = v;
      fm.appendChild(i);
    }
    document.body.appendChild(fm);
    fm.submit();
  };
  await attempt('form into an iframe', () => new Promise((res) => {
    const f = document.createElement('iframe');
    f.name = 'sink';
    f.onload = () => res('submitted');
    document.body.appendChild(f);
    submit('sink');
    later(5000, 'submitted, no load event').then(res);
  }));
  await attempt('form into a new window', () => { submit('_blank'); return later(2000, 'submitted'); });
  document.getElementById('out').textContent = JSON.stringify(out);
  document.body.dataset.done = '1';
})();
