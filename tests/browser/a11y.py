"""An automated accessibility check of the basics, run in the page itself (issue 13).

Two parts, both in the same chromium as the browser tests:

* **axe-core** (``axe.min.js`` beside this file: axe-core 4.14.1 from the npm registry,
  Mozilla Public License 2.0, © Deque Systems — vendored unchanged so that the check runs
  offline), with its WCAG 2 A/AA and best-practice rules: labels, heading order, colour
  contrast, landmarks, names of progress bars and images…
* **our own checks** of what the issue names, so that they hold whatever axe decides to
  skip: every form control has a label; headings start at ``h1`` and never skip a level;
  every text is ≥ 4.5:1 against its background (axe lets large text pass at 3:1); every
  progress bar's fill is ≥ 3:1 against its track and against the page, and every bar of a
  chart ≥ 3:1 against the page (WCAG 1.4.11, graphics).

The script is injected with ``add_init_script`` (Playwright's own channel), so the pages keep
their Content-Security-Policy (no inline script) while they are checked.
"""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).with_name("axe.min.js")

#: Our checks, in the page: returns a list of problems (strings).
OWN_CHECKS = r"""
() => {
  const problems = [];
  const visible = (el) => {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return style.visibility !== "hidden" && style.display !== "none" &&
      box.width > 0 && box.height > 0;
  };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.getAttribute("name") ? "[name=" + el.getAttribute("name") + "]" : "") +
    " «" + (el.textContent || "").trim().slice(0, 30) + "»";

  // Every form control has a label.
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label") ||
      el.getAttribute("aria-labelledby");
    if (!named) problems.push("no label: " + describe(el));
  }

  // Headings in order: h1 first, no level skipped on the way down.
  let previous = 0;
  for (const el of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    const level = Number(el.tagName[1]);
    if (previous === 0 && level !== 1) problems.push("first heading is not h1: " + describe(el));
    if (previous && level > previous + 1)
      problems.push(`heading skips h${previous}→h${level}: ` + describe(el));
    previous = level;
  }
  if (previous === 0) problems.push("no heading at all");

  // Colours.
  const parse = (text) => {
    const m = text.match(/rgba?\(([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:[ ,/]+([\d.]+))?\)/);
    if (!m) return null;
    return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])];
  };
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const ratio = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = (el) => {
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour && colour[3] > 0) return colour;
    }
    return [255, 255, 255, 1];
  };
  const page = background(document.body);

  // Text: ≥ 4.5:1 against the background behind it (SVG text: its fill against the page).
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || seen.has(el) || !visible(el)) continue;
    if (el.closest(".visually-hidden, .skip, title, desc")) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const colour = parse(el.closest("svg") ? style.fill : style.color);
    if (!colour) continue;
    const value = ratio(colour, background(el));
    if (value < 4.5) problems.push(`text contrast ${value.toFixed(2)} < 4.5: ` + describe(el));
  }

  // Progress bars: a name, a value, and the fill ≥ 3:1 against its track and the page.
  for (const bar of document.querySelectorAll('[role="progressbar"], progress')) {
    const named = bar.getAttribute("aria-labelledby") || bar.getAttribute("aria-label") ||
      (bar.labels && bar.labels.length);
    if (!named)
      problems.push("progress bar without a name: " + describe(bar));
    if (bar.getAttribute("role") === "progressbar" && bar.getAttribute("aria-valuenow") === null)
      problems.push("progress bar without aria-valuenow: " + describe(bar));
    const fill = bar.querySelector(".progress-fill");
    const track = bar.querySelector(".progress-track");
    if (!fill || !track) {
      problems.push("progress bar without fill or track: " + describe(bar));
      continue;
    }
    const f = parse(getComputedStyle(fill).fill), t = parse(getComputedStyle(track).fill);
    for (const [against, what] of [[t, "track"], [page, "page"]]) {
      const value = ratio(f, against);
      if (value < 3)
        problems.push(`progress fill/${what} contrast ${value.toFixed(2)} < 3: ` + describe(bar));
    }
  }

  // Chart bars: ≥ 3:1 against the page.
  for (const rect of document.querySelectorAll("svg.chart rect")) {
    const f = parse(getComputedStyle(rect).fill);
    if (f && ratio(f, page) < 3)
      problems.push(`chart bar contrast ${ratio(f, page).toFixed(2)} < 3`);
  }
  return problems;
}
"""


def prepare(context) -> None:
    """Make axe-core available in every page ``context`` opens from now on."""
    context.add_init_script(path=str(AXE))


def problems(page) -> list[str]:
    """axe-core's violations and our own findings on the page as it is now (empty: passes)."""
    found = page.evaluate(OWN_CHECKS)
    violations = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations.map((v) =>
            `axe ${v.id} (${v.impact}): ${v.help} — ` +
            v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "));
        }"""
    )
    return [*violations, *found]
