// hearth serve: saves each answer as it is given, in order, through POST /i/ID/answer (the
// interview, record and question by id, the value, a sequence number the engine uses to make a
// retried request idempotent). Shows "Saved" / "Not saved" per question, keeps Next disabled
// while a save failed, and applies the server's reply: relevance, progress, alerts. The pages
// work without it: every form posts and redirects as usual.
(function () {
  'use strict';

  var summary = document.getElementById('error-summary');
  if (summary) { summary.focus(); }

  var form = document.querySelector('form[data-interview]');
  if (!form) { return; }
  var interview = form.getAttribute('data-interview');
  var record = form.getAttribute('data-record');
  var seq = parseInt(form.getAttribute('data-seq'), 10) || 0;
  var next = document.getElementById('next');
  var blocked = document.getElementById('next-blocked');
  var failed = {};
  var pending = 0;
  var queue = Promise.resolve();

  function box(q) { return form.querySelector('.q[data-q="' + q + '"]'); }

  function status(q, text, bad) {
    var s = document.getElementById('st-' + q);
    if (!s) { return; }
    s.textContent = text;
    s.className = 'status ' + (bad ? 'not-saved' : 'saved');
  }

  function setError(q, message) {
    var b = box(q);
    if (!b) { return; }
    var id = 'err-' + q;
    var p = document.getElementById(id);
    var input = document.getElementById('q-' + q);
    if (message) {
      if (!p) {
        p = document.createElement('p');
        p.id = id;
        p.className = 'error-message';
        var anchor = b.querySelector('.choices, input');
        anchor.parentNode.insertBefore(p, anchor);
      }
      p.textContent = message;
      b.classList.add('has-error');
      if (input) { input.setAttribute('aria-invalid', 'true'); }
    } else {
      if (p) { p.parentNode.removeChild(p); }
      b.classList.remove('has-error');
      if (input) { input.removeAttribute('aria-invalid'); }
    }
    describe(b, q);
  }

  // aria-describedby of the field (or its fieldset) names its hint and its error, if any
  function describe(b, q) {
    var ids = [];
    if (document.getElementById('hint-' + q)) { ids.push('hint-' + q); }
    if (document.getElementById('err-' + q)) { ids.push('err-' + q); }
    var target = b.querySelector('fieldset') || document.getElementById('q-' + q);
    if (!target) { return; }
    if (ids.length) { target.setAttribute('aria-describedby', ids.join(' ')); } else { target.removeAttribute('aria-describedby'); }
  }

  function updateNext() {
    var bad = Object.keys(failed).length > 0;
    if (next) { next.disabled = bad; }
    if (blocked) { blocked.hidden = !bad; }
  }

  function apply(reply) {
    (reply.relevance || []).forEach(function (r) {
      if (r.record !== record) { return; }
      var b = box(r.question);
      if (b) { b.hidden = !r.relevant; }
      if (!r.relevant) { delete failed[r.question]; }
    });
    var shown = document.getElementById('shown');
    if (shown) {
      shown.value = Array.prototype.filter.call(form.querySelectorAll('.q'), function (b) { return !b.hidden; })
        .map(function (b) { return b.getAttribute('data-q'); }).join(' ');
    }
    if (reply.progress) {
      var bar = document.getElementById('progress-bar');
      var text = document.getElementById('progress-text');
      if (bar) { bar.max = Math.max(reply.progress.total, 1); bar.value = reply.progress.answered; }
      if (text) { text.textContent = reply.progress.answered + ' of ' + reply.progress.total + ' answered'; }
    }
    // each alert of this page's record also shows under the question that raised it
    Array.prototype.forEach.call(form.querySelectorAll('.alert.inline'), function (d) { d.parentNode.removeChild(d); });
    (reply.alerts || []).forEach(function (a) {
      var b = a.record === record ? box(a.question) : null;
      var st = b ? document.getElementById('st-' + a.question) : null;
      if (!st) { return; }
      var d = document.createElement('div');
      d.className = 'alert inline';
      d.textContent = a.message;
      st.parentNode.insertBefore(d, st);
    });
    var alerts = document.getElementById('alerts');
    if (alerts && reply.alerts) {
      var shown = alerts.getAttribute('data-shown') || '';
      var now = reply.alerts.map(function (a) { return a.record + '/' + a.question; }).join(' ');
      if (shown !== now) {
        alerts.textContent = '';
        reply.alerts.forEach(function (a) {
          var d = document.createElement('div');
          d.className = 'alert';
          d.setAttribute('role', 'alert');
          var s = document.createElement('strong');
          s.textContent = a.record_name + ': ';
          d.appendChild(s);
          d.appendChild(document.createTextNode(a.message));
          alerts.appendChild(d);
        });
        alerts.setAttribute('data-shown', now);
      }
    }
    updateNext();
  }

  function send(q, body, tries) {
    return fetch('/i/' + encodeURIComponent(interview) + '/answer', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (r) {
      if (r.status === 401) {
        // revoked, or the server restarted: no retry will help until the device pairs again
        return { ok: false, reply: { accepted: false, problem: 'Not saved: this device is not paired any more. Pair it again from the laptop, then reload this page.' } };
      }
      return r.json().then(function (j) { return { ok: r.ok, reply: j }; });
    }).then(function (res) {
      var reply = res.reply;
      if (res.ok && reply.accepted) {
        delete failed[q];
        setError(q, null);
        status(q, reply.shown && (body.given === 'refused' || body.given === 'dont_know') ? 'Saved: ' + reply.shown : 'Saved', false);
      } else {
        failed[q] = true;
        setError(q, reply.problem || 'Not saved');
        status(q, 'Not saved', true);
      }
      apply(reply);
    }, function () {
      // no connection: the same request again (the same sequence number: never saved twice)
      failed[q] = true;
      status(q, 'Not saved: no connection, trying again', true);
      updateNext();
      if (tries < 30) {
        return new Promise(function (ok) { setTimeout(ok, 2000); }).then(function () { return send(q, body, tries + 1); });
      }
      status(q, 'Not saved: no connection. Keep this page open and try again.', true);
    });
  }

  function save(q, value, given) {
    seq += 1;
    var body = { record: record, question: q, value: value, given: given || 'value', seq: seq };
    pending += 1;
    status(q, 'Saving…', false);
    queue = queue.then(function () { return send(q, body, 0); }).then(function () { pending -= 1; });
  }

  function valueOf(b) {
    var type = b.getAttribute('data-type');
    if (type === 'radio') {
      var c = b.querySelector('input:checked');
      return c ? c.value : '';
    }
    if (type === 'checkbox') {
      return Array.prototype.map.call(b.querySelectorAll('input:checked'), function (i) { return i.value; }).join(' ');
    }
    var input = b.querySelector('input');
    return input ? input.value.trim() : '';
  }

  form.addEventListener('change', function (e) {
    var b = e.target.closest('.q');
    if (!b || e.target.readOnly) { return; }
    var q = b.getAttribute('data-q');
    Array.prototype.forEach.call(b.querySelectorAll('.missing button'), function (m) { m.setAttribute('aria-pressed', 'false'); });
    save(q, valueOf(b), 'value');
  });

  form.addEventListener('click', function (e) {
    var button = e.target.closest('button[name="given"]');
    if (!button) { return; }
    e.preventDefault();
    var parts = button.value.split(':');
    var b = box(parts[0]);
    if (b) {
      Array.prototype.forEach.call(b.querySelectorAll('input'), function (i) {
        if (i.type === 'radio' || i.type === 'checkbox') { i.checked = false; } else { i.value = ''; }
      });
      Array.prototype.forEach.call(b.querySelectorAll('.missing button'), function (m) { m.setAttribute('aria-pressed', m === button ? 'true' : 'false'); });
    }
    save(parts[0], '', parts[1]);
  });

  // Next waits for the saves in flight, and stays put while one failed
  form.addEventListener('submit', function (e) {
    if (Object.keys(failed).length > 0) {
      e.preventDefault();
      updateNext();
      return;
    }
    if (pending > 0) {
      e.preventDefault();
      var submitter = e.submitter;
      queue.then(function () {
        if (Object.keys(failed).length === 0) {
          if (submitter && form.requestSubmit) { form.requestSubmit(submitter); } else { form.submit(); }
        }
      });
    }
  });
})();
