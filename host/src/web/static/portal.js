// The portal's one script. Everything it does is an enhancement: every page works without
// it, and a reload shows what it would have shown.
//
// 1. Live updates. A signed-in page (body[data-live-events]) follows the member's
//    server-sent events. On `update` it
//    - reloads each region whose data-live topic hears one of the event's topics (the same
//      topic or one below it, see plugin-api/src/live.rs) from a fresh copy of this page,
//      matched by id (or by topic when it has none), unless the member changed a field in it;
//    - then copies the header's data-live-part elements from /c/{slug}/live/header
//      (bell, avatar badges, account menu).
//    On `resync` (the stream fell behind) it does both for every region.
// 2. Character counters. A textarea with data-max-length gets a live count in the element
//    [data-counter-for=its id]; the server still checks the length and keeps the text.
// 3. Search as you type (data-search-url), described at searchAsYouType below.
// 4. Relative times ("5 minutes ago") stay current while the page is open.
// 5. The avatar menu becomes a menu button (accountMenu below); without the script it is a
//    disclosure of links.
'use strict';

(function () {
  const body = document.body;

  function hears(listener, topic) {
    return topic === listener || topic.startsWith(listener + '/');
  }

  async function fetchDocument(url) {
    const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
    if (!response.ok || response.redirected) return null;
    return new DOMParser().parseFromString(await response.text(), 'text/html');
  }

  function announce(text) {
    const status = document.getElementById('live-status');
    if (status) status.textContent = text;
  }

  // Whether the member changed a field inside `region` (typed, ticked, chose): such a
  // region is left as it is, so nothing typed is ever lost.
  function edited(region) {
    return Array.from(region.querySelectorAll('input, textarea, select')).some((field) => {
      if (field.type === 'checkbox' || field.type === 'radio') return field.checked !== field.defaultChecked;
      if (field.tagName === 'SELECT') return Array.from(field.options).some((o) => o.selected !== o.defaultSelected);
      return field.type !== 'hidden' && field.value !== field.defaultValue;
    });
  }

  // The fresh version of a region: the element with the same id, or else the first with the
  // same data-live topic.
  function counterpart(fresh, region) {
    if (region.id) return fresh.getElementById(region.id);
    return Array.from(fresh.querySelectorAll('[data-live]')).find((el) => !el.id && el.dataset.live === region.dataset.live);
  }

  async function refreshRegions(topics) {
    const regions = Array.from(document.querySelectorAll('[data-live]')).filter(
      (el) => (topics === null || topics.some((topic) => hears(el.dataset.live, topic))) && !edited(el),
    );
    if (regions.length === 0) return;
    const fresh = await fetchDocument(window.location.href);
    if (!fresh) return;
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
    let added = 0;
    for (const region of regions) {
      const match = counterpart(fresh, region);
      if (!match) continue;
      added += match.querySelectorAll('li.message').length - region.querySelectorAll('li.message').length;
      const replacement = document.importNode(match, true);
      region.replaceWith(replacement);
      countCharacters(replacement);
    }
    if (added > 0) {
      announce(added === 1 ? 'A new message arrived.' : added + ' new messages arrived.');
      if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
    }
  }

  async function refreshHeader() {
    const fresh = await fetchDocument(body.dataset.liveHeader);
    if (!fresh) return;
    for (const part of document.querySelectorAll('[data-live-part]')) {
      const next = fresh.querySelector('[data-live-part="' + part.dataset.livePart + '"]');
      if (!next) continue;
      for (const name of ['class', 'aria-label', 'title']) {
        if (next.hasAttribute(name)) part.setAttribute(name, next.getAttribute(name));
        else part.removeAttribute(name);
      }
      const hasInnerParts = part.querySelector('[data-live-part]') !== null;
      const focusInside = part !== document.activeElement && part.contains(document.activeElement);
      if (!hasInnerParts && !focusInside) {
        part.replaceChildren(...Array.from(next.childNodes, (node) => document.importNode(node, true)));
      }
    }
    for (const details of document.querySelectorAll('details.user-menu')) markMenu(details);
  }

  function followUpdates() {
    if (!body.dataset.liveEvents || !window.EventSource) return;
    const events = new EventSource(body.dataset.liveEvents);
    // One refresh at a time, in the order the events came.
    let queue = Promise.resolve();
    const refresh = (topics) => {
      queue = queue
        .then(() => refreshRegions(topics))
        .then(refreshHeader)
        .catch(() => {});
    };
    events.addEventListener('update', (event) => {
      let topics = [];
      try {
        topics = JSON.parse(event.data).topics || [];
      } catch (_) {
        return;
      }
      refresh(topics);
    });
    events.addEventListener('resync', () => refresh(null));
    window.addEventListener('pagehide', () => events.close());
  }

  function countCharacters(root) {
    for (const area of root.querySelectorAll('textarea[data-max-length]')) {
      const counter = document.querySelector('[data-counter-for="' + area.id + '"]');
      const max = Number(area.dataset.maxLength);
      if (!counter || !max || area.dataset.counting) continue;
      area.dataset.counting = 'yes';
      let wasOver = false;
      const update = () => {
        const used = Array.from(area.value).length;
        const over = used > max;
        // Screen readers hear about the limit when it is crossed, not at every key.
        if (over !== wasOver) announce(over ? 'Too long: at most ' + max + ' characters.' : 'Length is fine again.');
        wasOver = over;
        counter.textContent = over
          ? used + ' of ' + max + ' characters: ' + (used - max) + ' too many.'
          : used + ' of ' + max + ' characters.';
        counter.classList.toggle('over-limit', over);
        area.setAttribute('aria-invalid', over ? 'true' : 'false');
      };
      area.addEventListener('input', update);
      update();
    }
  }

  // 3. Search as you type. An input with data-search-url and data-search-results="ID"
  //    fetches data-search-url?q=...&to=...&as=... (the form's ticked `to` boxes and its
  //    `as`, never what is being written) and puts the fresh page's #ID in place of this
  //    page's #ID. Ticked boxes stay ticked: the server renders them checked.
  function searchAsYouType() {
    for (const input of document.querySelectorAll('input[data-search-url][data-search-results]')) {
      const form = input.form;
      let timer = null;
      let latest = 0;
      const search = async () => {
        const query = input.value.trim();
        if (query.length === 1) return;
        const params = new URLSearchParams();
        params.set('q', query);
        if (form) {
          for (const box of form.querySelectorAll('input[name="to"]:checked')) params.append('to', box.value);
          const as = form.elements.namedItem('as');
          if (as && 'value' in as && as.value) params.set('as', as.value);
        }
        const ticket = ++latest;
        const fresh = await fetchDocument(input.dataset.searchUrl + '?' + params.toString());
        if (!fresh || ticket !== latest) return;
        const id = input.dataset.searchResults;
        const next = fresh.getElementById(id);
        const current = document.getElementById(id);
        if (!next || !current) return;
        current.replaceWith(document.importNode(next, true));
        const found = next.querySelectorAll('input[type="checkbox"]:not(:checked)').length;
        announce(query ? (found === 1 ? '1 match.' : found + ' matches.') : '');
      };
      input.addEventListener('input', () => {
        clearTimeout(timer);
        timer = setTimeout(() => search().catch(() => {}), 250);
      });
    }
  }

  // 4. Relative times stay current: every <time datetime> that reads "just now" or "5
  //    minutes ago" is rewritten each minute, in the words of plugin_api::time::relative.
  function relative(then, now) {
    const secs = Math.max(0, Math.floor((now - then) / 1000));
    const plural = (n, unit) => n + ' ' + unit + (n === 1 ? '' : 's') + ' ago';
    if (secs < 60) return 'just now';
    if (secs < 3600) return plural(Math.floor(secs / 60), 'minute');
    if (secs < 86400) return plural(Math.floor(secs / 3600), 'hour');
    if (secs < 604800) return plural(Math.floor(secs / 86400), 'day');
    return new Date(then).toISOString().slice(0, 10);
  }

  function refreshTimes() {
    const now = Date.now();
    for (const time of document.querySelectorAll('time[datetime]')) {
      const then = Date.parse(time.getAttribute('datetime'));
      if (!Number.isNaN(then)) time.textContent = relative(then, now);
    }
  }

  // 5. The avatar menu, a <details>, as a menu button (the WAI-ARIA menu button pattern):
  //    Enter, Space or ArrowDown on the button open it on the first item, ArrowUp on the
  //    last; in the menu ArrowDown and ArrowUp move (and wrap), Home and End jump, a letter
  //    goes to the next item starting with it, Escape closes it and gives the focus back to
  //    the button, Tab closes it and moves on. Focus or a click elsewhere closes it. Only
  //    the script adds the menu roles, so without it nothing claims to be a menu.
  function markMenu(details) {
    const summary = details.querySelector('summary');
    const menu = details.querySelector('.menu');
    if (!summary || !menu) return;
    if (!menu.id) menu.id = 'account-menu';
    summary.setAttribute('aria-haspopup', 'menu');
    summary.setAttribute('aria-controls', menu.id);
    menu.setAttribute('role', 'menu');
    menu.setAttribute('aria-label', 'Account');
    for (const el of menu.children) {
      if (el.matches('a')) el.setAttribute('role', 'menuitem');
      else el.setAttribute('role', 'none');
    }
    for (const el of menu.querySelectorAll('form button')) el.setAttribute('role', 'menuitem');
    for (const item of menuItems(details)) item.tabIndex = -1;
  }

  function menuItems(details) {
    return Array.from(details.querySelectorAll('.menu [role="menuitem"]'));
  }

  function accountMenu() {
    for (const details of document.querySelectorAll('details.user-menu')) {
      const summary = details.querySelector('summary');
      if (!summary) continue;
      markMenu(details);
      const focusItem = (index) => {
        const items = menuItems(details);
        if (items.length === 0) return;
        items[(index + items.length) % items.length].focus();
      };
      const open = (index) => {
        details.open = true;
        focusItem(index);
      };
      const close = (returnFocus) => {
        details.open = false;
        if (returnFocus) summary.focus();
      };
      summary.addEventListener('keydown', (event) => {
        if (['Enter', ' ', 'ArrowDown', 'ArrowUp'].includes(event.key)) {
          event.preventDefault();
          if (details.open && (event.key === 'Enter' || event.key === ' ')) close(true);
          else open(event.key === 'ArrowUp' ? -1 : 0);
        } else if (event.key === 'Escape' && details.open) {
          event.preventDefault();
          close(true);
        }
      });
      // Space activates a button on key up: the key down above already did the work.
      summary.addEventListener('keyup', (event) => {
        if (event.key === ' ') event.preventDefault();
      });
      details.addEventListener('keydown', (event) => {
        const items = menuItems(details);
        const at = items.indexOf(event.target);
        if (at < 0) return;
        if (event.key === 'ArrowDown') focusItem(at + 1);
        else if (event.key === 'ArrowUp') focusItem(at - 1);
        else if (event.key === 'Home') focusItem(0);
        else if (event.key === 'End') focusItem(-1);
        else if (event.key === 'Escape') close(true);
        else if (event.key === 'Tab') {
          close(false);
          return;
        } else if (event.key.length === 1 && /\S/.test(event.key) && !event.ctrlKey && !event.metaKey && !event.altKey) {
          const letter = event.key.toLowerCase();
          const order = items.slice(at + 1).concat(items.slice(0, at + 1));
          const match = order.find((item) => item.textContent.trim().toLowerCase().startsWith(letter));
          if (match) match.focus();
        } else return;
        event.preventDefault();
      });
      // Focus moving elsewhere closes it (a click on the menu's own text, which moves the
      // focus to no element, does not).
      details.addEventListener('focusout', (event) => {
        const to = event.relatedTarget;
        if (details.open && to && !details.contains(to)) details.open = false;
      });
      document.addEventListener('click', (event) => {
        if (details.open && !details.contains(event.target)) details.open = false;
      });
    }
  }

  followUpdates();
  accountMenu();
  countCharacters(document);
  window.setInterval(refreshTimes, 60000);
  searchAsYouType();
})();
