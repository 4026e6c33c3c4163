/*
 * Starts the deck: fits each slide's code to its slide, then starts reveal.js with the kit's
 * settings.
 *
 * Every slide is a fixed 1280x720 frame (reveal.js scales it to the window, so a projector at
 * 1024x768, 1280x720 or 1920x1080 shows the same layout). The build cannot know how wide the
 * machine's monospace font is, so code that does not fit its slide is shrunk here, in steps of
 * half a pixel, never below CODE_MIN_PX; a slide that still does not fit gets
 * data-overflow="true" (the tests look for it) and a warning in the console.
 */
(function () {
  'use strict';

  const CODE_MIN_PX = 15;

  function overflowing(element) {
    return element.scrollHeight > element.clientHeight + 1 ||
      element.scrollWidth > element.clientWidth + 1;
  }

  function overflows(frame) {
    const body = frame.querySelector('.slide-body');
    return (body !== null && overflowing(body)) ||
      Array.from(frame.querySelectorAll('pre, table, .columns > div')).some(overflowing);
  }

  function fontSize(pre) {
    return parseFloat(getComputedStyle(pre).fontSize);
  }

  function shrink(pre) {
    pre.style.fontSize = (fontSize(pre) - 0.5) + 'px';
  }

  function fit(frame) {
    const blocks = Array.from(frame.querySelectorAll('pre.code'));
    const shrinkable = () => blocks.filter(pre => fontSize(pre) > CODE_MIN_PX);
    // First each block as narrow as its box, then all of them together as short as the slide.
    blocks.forEach(pre => {
      while (pre.scrollWidth > pre.clientWidth + 1 && fontSize(pre) > CODE_MIN_PX) shrink(pre);
    });
    while (overflows(frame) && shrinkable().length) shrinkable().forEach(shrink);
    if (overflows(frame)) {
      frame.dataset.overflow = 'true';
      console.warn(`The slide "${frame.closest('section').dataset.title}" does not fit: shorten it.`);
    }
  }

  // reveal.js hides the slides that are not showing; lay every slide out (invisibly) to measure.
  document.documentElement.classList.add('measuring');
  document.querySelectorAll('.reveal .slides .frame').forEach(fit);
  document.documentElement.classList.remove('measuring');

  const printing = /print-pdf/i.test(window.location.search);
  Reveal.initialize({
    width: 1280,
    height: 720,
    margin: 0,
    center: false,
    hash: true,
    hashOneBasedIndex: true,
    // One section (a lesson, the electives) per column of the overview, and every key that
    // means "next" (a presenter's remote sends PageDown or →) goes to the next slide.
    navigationMode: 'linear',
    // Slides are numbered in their footers, 1 to N; the same numbers for G (jump to a slide),
    // and on the speaker view's copy of the slide.
    slideNumber: 'c/t',
    showSlideNumber: 'speaker',
    transition: 'none',
    backgroundTransition: 'none',
    // A PDF has one page per slide, with every step shown, followed by a page of its notes
    // (index.html?print-pdf; add &showNotes=false for a handout without them).
    showNotes: printing ? 'separate-page' : false,
    pdfSeparateFragments: false,
    // The build already coloured the code; the plugin only marks the lines of code steps.
    highlight: {escapeHTML: false},
    plugins: [RevealNotes, RevealHighlight],
  });

  // End goes to the last slide (reveal.js would stop at the first slide of the last section).
  Reveal.addKeyBinding({keyCode: 35, key: 'End', description: 'Last slide'}, () => {
    const slides = Reveal.getSlides();
    const last = Reveal.getIndices(slides[slides.length - 1]);
    Reveal.slide(last.h, last.v);
  });
})();
