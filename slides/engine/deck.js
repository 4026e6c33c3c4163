/*
 * The kit's slide engine: no libraries, nothing loaded from anywhere but this folder.
 *
 * The page holds every slide as a <section class="slide"> of a fixed 1280x720 size; the engine
 * shows one at a time, scaled to fit the window (so a projector at 1024x768, 1280x720 or
 * 1920x1080 shows the same layout), and keeps the slide number in the address (#12).
 *
 * Keys: → ↓ Space PageDown N: next · ← ↑ PageUp P: back · Home / End · a number, then
 * Enter: go to that slide · S: speaker view (a second window with notes, next slide and a timer) ·
 * T or O: list of slides · B or .: black screen · F: full screen · ?: the keys.
 *
 * The speaker view is the same page opened as index.html?notes. The two windows tell each
 * other which slide is showing with postMessage, so either one can drive, also from file://.
 */
(function () {
  'use strict';

  const WIDTH = 1280;
  const HEIGHT = 720;
  const CODE_MIN_PX = 15;       // code is never shrunk below this to make it fit
  const MESSAGE = 'wslab-deck'; // the tag on messages between the two windows

  const slides = Array.from(document.querySelectorAll('#deck > section.slide'));
  const total = slides.length;
  const presenterMode = new URLSearchParams(location.search).has('notes');
  let current = -1;
  let peer = null;              // the other window: the speaker view, or the audience deck
  let typed = '';               // digits typed before Enter

  // -- fitting: every slide is laid out once, at its real size, and code shrinks to fit ----

  function overflows(slide) {
    const body = slide.querySelector('.slide-body');
    if (!body) return false;
    if (body.scrollHeight > body.clientHeight + 1 || body.scrollWidth > body.clientWidth + 1) {
      return true;
    }
    return Array.from(slide.querySelectorAll('pre, table, .columns > div'))
      .some(el => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1);
  }

  function fontSize(pre) {
    return parseFloat(getComputedStyle(pre).fontSize);
  }

  function fitSlide(slide) {
    slide.classList.add('measuring');
    const blocks = Array.from(slide.querySelectorAll('.code pre'));
    // First each block as narrow as its box, then all of them together as short as the slide.
    blocks.forEach(pre => {
      while (pre.scrollWidth > pre.clientWidth + 1 && fontSize(pre) > CODE_MIN_PX) {
        pre.style.fontSize = (fontSize(pre) - 0.5) + 'px';
      }
    });
    const shrinkable = () => blocks.filter(pre => fontSize(pre) > CODE_MIN_PX);
    while (overflows(slide) && shrinkable().length) {
      shrinkable().forEach(pre => { pre.style.fontSize = (fontSize(pre) - 0.5) + 'px'; });
    }
    if (overflows(slide)) {
      slide.dataset.overflow = 'true';
      console.warn(`slide ${slides.indexOf(slide) + 1} does not fit: shorten it`);
    }
    slide.classList.remove('measuring');
  }

  // -- showing a slide ------------------------------------------------------------------------

  function clamp(n) {
    return Math.max(0, Math.min(total - 1, n));
  }

  function go(n, fromPeer) {
    n = clamp(n);
    if (n === current) return;
    if (current >= 0) slides[current].classList.remove('current');
    current = n;
    slides[n].classList.add('current');
    const hash = '#' + (n + 1);
    if (location.hash !== hash) history.replaceState(null, '', hash);
    document.title = `${n + 1}/${total} · ${slides[n].dataset.title || ''}`;
    document.getElementById('progress-bar').style.width = ((n + 1) / total * 100) + '%';
    document.body.dataset.slide = String(n + 1);
    document.querySelectorAll('#toc-list li').forEach((item, i) => {
      item.classList.toggle('toc-current', i === n);
    });
    if (presenterMode) renderPresenter();
    if (!fromPeer) tellPeer();
  }

  function slideFromHash() {
    const match = /^#\/?(\d+)$/.exec(location.hash);
    return match ? parseInt(match[1], 10) - 1 : 0;
  }

  function scale() {
    const s = Math.min(window.innerWidth / WIDTH, window.innerHeight / HEIGHT);
    document.documentElement.style.setProperty('--scale', String(s));
  }

  // -- the two windows --------------------------------------------------------------------------

  function tellPeer() {
    const other = presenterMode ? window.opener : peer;
    if (other && !other.closed) other.postMessage({tag: MESSAGE, slide: current}, '*');
  }

  window.addEventListener('message', (event) => {
    const data = event.data;
    if (!data || data.tag !== MESSAGE || event.source === window) return;
    // A speaker view that outlived a reload of the deck: adopt it, so that it hears from us.
    if (!presenterMode && (!peer || peer.closed)) peer = event.source;
    if (Number.isInteger(data.slide)) go(data.slide, true);
  });

  function openSpeakerView() {
    if (presenterMode) return;
    const url = location.pathname + '?notes' + '#' + (current + 1);
    peer = window.open(url, 'wslab-speaker-view', 'width=1280,height=800');
    if (!peer) showHelp('The browser blocked the speaker view: allow pop-ups for this page.');
  }

  // -- the speaker view -----------------------------------------------------------------------

  let startedAt = Date.now();

  function preview(slot, index) {
    const frame = document.querySelector(slot);
    frame.replaceChildren();
    if (index >= total) {
      frame.textContent = 'The end.';
      return;
    }
    const copy = slides[index].cloneNode(true);
    copy.removeAttribute('id');
    copy.classList.add('current', 'preview');
    copy.querySelectorAll('[id]').forEach(el => el.removeAttribute('id'));
    frame.appendChild(copy);
    copy.style.transform = `scale(${frame.clientWidth / WIDTH})`;
  }

  function renderPresenter() {
    preview('#p-current', current);
    preview('#p-next', current + 1);
    const notes = slides[current].querySelector('aside.notes');
    const target = document.getElementById('p-notes');
    target.replaceChildren();
    if (notes) {
      Array.from(notes.childNodes).forEach(node => target.appendChild(node.cloneNode(true)));
    } else {
      target.textContent = '(no notes on this slide)';
    }
    document.getElementById('p-where').textContent =
      `${current + 1} / ${total} · ${slides[current].dataset.title || ''}`;
  }

  function two(n) {
    return String(n).padStart(2, '0');
  }

  function tick() {
    const seconds = Math.floor((Date.now() - startedAt) / 1000);
    const [hours, minutes] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60];
    document.getElementById('p-elapsed').textContent =
      `${two(hours)}:${two(minutes)}:${two(seconds % 60)}`;
    const now = new Date();
    document.getElementById('p-clock').textContent =
      `${two(now.getHours())}:${two(now.getMinutes())}`;
  }

  function setUpPresenter() {
    document.body.classList.add('presenter');
    document.getElementById('presenter').hidden = false;
    document.getElementById('p-reset').addEventListener('click', () => {
      startedAt = Date.now();
      tick();
    });
    tick();
    setInterval(tick, 1000);
    window.addEventListener('resize', renderPresenter);
  }

  // -- overlays: list of slides, help, black screen ---------------------------------------------

  function toggle(id, show) {
    const element = document.getElementById(id);
    element.hidden = show === undefined ? !element.hidden : !show;
    return !element.hidden;
  }

  function showHelp(message) {
    document.getElementById('help-message').textContent = message || '';
    toggle('help', true);
  }

  function buildToc() {
    const list = document.getElementById('toc-list');
    slides.forEach((slide, i) => {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.href = '#' + (i + 1);
      link.textContent = slide.dataset.title || `Slide ${i + 1}`;
      if (slide.classList.contains('section')) item.className = 'toc-section';
      link.addEventListener('click', (event) => {
        event.preventDefault();
        toggle('toc', false);
        go(i);
      });
      item.appendChild(link);
      list.appendChild(item);
    });
  }

  function closeOverlays() {
    const open = ['toc', 'help'].filter(id => !document.getElementById(id).hidden);
    open.forEach(id => toggle(id, false));
    document.body.classList.remove('blackout');
    return open.length > 0;
  }

  // -- input ------------------------------------------------------------------------------------

  const NEXT = new Set(['ArrowRight', 'ArrowDown', 'PageDown', ' ', 'n', 'j', 'l']);
  const BACK = new Set(['ArrowLeft', 'ArrowUp', 'PageUp', 'p', 'k', 'h']);

  document.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const key = event.key;
    if (/^[0-9]$/.test(key)) {
      typed += key;
      return;
    }
    if (key === 'Enter' && typed) {
      go(parseInt(typed, 10) - 1);
      typed = '';
      event.preventDefault();
      return;
    }
    typed = '';
    if (NEXT.has(key)) go(current + 1);
    else if (BACK.has(key)) go(current - 1);
    else if (key === 'Home') go(0);
    else if (key === 'End') go(total - 1);
    else if (key === 's' || key === 'S') openSpeakerView();
    else if (key === 't' || key === 'o') toggle('toc');
    else if (key === '?') toggle('help');
    else if (key === 'b' || key === '.') document.body.classList.toggle('blackout');
    else if (key === 'f') {
      if (document.fullscreenElement) document.exitFullscreen();
      else document.documentElement.requestFullscreen().catch(() => {});
    } else if (key === 'Escape') closeOverlays();
    else return;
    event.preventDefault();
  });

  let touchX = null;
  document.addEventListener('touchstart', (event) => { touchX = event.touches[0].clientX; },
                            {passive: true});
  document.addEventListener('touchend', (event) => {
    if (touchX === null) return;
    const dx = event.changedTouches[0].clientX - touchX;
    touchX = null;
    if (Math.abs(dx) > 50) go(current + (dx < 0 ? 1 : -1));
  });

  document.getElementById('nav-next').addEventListener('click', () => go(current + 1));
  document.getElementById('nav-back').addEventListener('click', () => go(current - 1));
  document.getElementById('nav-toc').addEventListener('click', () => toggle('toc'));
  document.getElementById('nav-help').addEventListener('click', () => toggle('help'));
  window.addEventListener('hashchange', () => go(slideFromHash()));
  window.addEventListener('resize', scale);

  // -- start --------------------------------------------------------------------------------------

  function start() {
    slides.forEach(fitSlide);
    buildToc();
    scale();
    if (presenterMode) setUpPresenter();
    go(slideFromHash(), true);
    document.body.dataset.ready = 'true';
  }

  // Load the deck's fonts before measuring anything: a slide measured in a fallback font would
  // be fitted wrongly. (Fonts are files next to the page, so this takes milliseconds.)
  const FONTS = ['26px "Deck Sans"', 'bold 26px "Deck Sans"', 'italic 26px "Deck Sans"',
                 '19px "Deck Mono"', 'bold 19px "Deck Mono"'];
  Promise.all(FONTS.map(font => document.fonts.load(font)))
    .catch(() => [])
    .then(start);
})();
