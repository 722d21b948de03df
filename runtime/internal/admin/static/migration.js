// The migration portal's one script (admin area, migration-*.html): it
// follows a running export, transfer or import, and uploads an archive in
// chunks that resume after a network error. No framework, no build step.
"use strict";
(function () {
  var job = document.getElementById("job");
  if (job && job.dataset.running === "true") {
    follow(job);
  }
  var form = document.getElementById("upload-form");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      upload(form);
    });
  }

  // follow polls the job's state, moves the progress bar, and reloads the
  // page when the job ends (the page then shows its outcome).
  function follow(job) {
    var bar = document.getElementById("job-progress");
    var step = document.getElementById("job-step");
    var tick = function () {
      fetch(job.dataset.status, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          // Sent to the sign-in page: the session ended (an import
          // replaces the site's accounts); the page says what to do.
          if (r.redirected || r.status === 401 || r.status === 403) {
            location.reload();
            return null;
          }
          return r.json();
        })
        .then(function (s) {
          if (s === null) return;
          if (!s.job || !s.job.Running) {
            location.reload();
            return;
          }
          if (bar && s.job.Total > 0) {
            bar.max = s.job.Total;
            bar.value = s.job.Done;
          }
          if (step) {
            step.dataset.step = s.job.Step;
            step.dataset.done = s.job.Done;
          }
          setTimeout(tick, 1000);
        })
        .catch(function () { setTimeout(tick, 3000); });
    };
    setTimeout(tick, 1000);
  }

  function text(form, key, vars) {
    var s = form.dataset[key] || "";
    for (var k in vars) s = s.replace("{" + k + "}", vars[k]);
    return s;
  }

  function mib(n) { return (n / 1048576).toFixed(1) + " MiB"; }

  // upload sends the chosen file in chunks with Content-Range; the server
  // answers the bytes it holds, so a failed chunk is sent again from there.
  function upload(form) {
    var file = document.getElementById("archive").files[0];
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var button = document.getElementById("upload");
    var csrf = form.querySelector("input[name=csrf]").value;
    var chunk = parseInt(form.dataset.chunk, 10) || 8388608;
    if (!file) return;
    if (file.size > parseInt(form.dataset.max, 10)) {
      status.textContent = text(form, "msgLarge", {});
      return;
    }
    button.disabled = true;
    bar.hidden = false;
    bar.max = file.size;
    var pause = 1000;
    var show = function (n) {
      bar.value = n;
      status.textContent = text(form, "msgSending", { done: mib(n), total: mib(file.size) });
    };
    var failed = function (msg) {
      status.textContent = text(form, "msgFailed", {}) + " " + msg;
      button.disabled = false;
    };
    var begin = function () {
      // The same file as an upload left unfinished: continue it.
      if (form.dataset.id && parseInt(form.dataset.size, 10) === file.size) {
        return Promise.resolve({ id: form.dataset.id, received: parseInt(form.dataset.received, 10) || 0 });
      }
      var body = new URLSearchParams({ csrf: csrf, name: file.name, size: String(file.size) });
      return fetch(form.action, { method: "POST", body: body, credentials: "same-origin" }).then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) throw new Error(j.error || r.status);
          return j;
        });
      });
    };
    var send = function (id, at) {
      show(at);
      if (at >= file.size) {
        status.textContent = text(form, "msgDone", {});
        location.reload();
        return;
      }
      var end = Math.min(at + chunk, file.size);
      fetch(form.dataset.put + encodeURIComponent(id), {
        method: "PUT",
        credentials: "same-origin",
        headers: {
          "Content-Range": "bytes " + at + "-" + (end - 1) + "/" + file.size,
          "Content-Type": "application/octet-stream",
          "X-CSRF-Token": csrf
        },
        body: file.slice(at, end)
      }).then(function (r) {
        return r.json().then(function (j) {
          if (r.ok) {
            pause = 1000;
            send(id, j.received);
          } else if (r.status === 409 && typeof j.received === "number") {
            // Not where the server is (or it is busy): go on from where it is.
            setTimeout(function () { send(id, j.received); }, pause);
            pause = Math.min(pause * 2, 30000);
          } else {
            failed(j.error || String(r.status));
          }
        });
      }).catch(function () {
        // A network error: ask where the server is, then go on from there.
        status.textContent = text(form, "msgRetry", {});
        setTimeout(function () {
          fetch(form.dataset.status, { credentials: "same-origin", cache: "no-store" })
            .then(function (r) { return r.json(); })
            .then(function (s) { send(id, s.received); })
            .catch(function () { send(id, at); });
        }, pause);
        pause = Math.min(pause * 2, 30000);
      });
    };
    begin().then(function (u) { send(u.id, u.received); }, function (e) { failed(e.message); });
  }
})();
