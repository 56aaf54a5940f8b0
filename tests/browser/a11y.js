// A basic accessibility check, run in the page: returns a list of violations.
// Every form control has a label, every button and link an accessible name, images alt
// text, the page a language and an h1, and visible text a contrast of at least 4.5:1
// against its background (computed styles, backgrounds blended up the ancestors).
() => {
  const problems = [];
  const describe = (node) => {
    const text = (node.textContent || "").trim().slice(0, 40);
    return `<${node.tagName.toLowerCase()}${node.id ? `#${node.id}` : ""}> ${JSON.stringify(text)}`;
  };
  const visible = (node) => {
    const style = getComputedStyle(node);
    return (
      style.visibility !== "hidden" && style.display !== "none" && node.getClientRects().length > 0
    );
  };
  const named = (node) =>
    Boolean(
      (node.getAttribute("aria-label") || "").trim() ||
      (node.getAttribute("aria-labelledby") || "")
        .split(/\s+/)
        .some((id) => id && (document.getElementById(id)?.textContent || "").trim()) ||
      (node.getAttribute("title") || "").trim(),
    );

  if (!document.documentElement.lang) problems.push("html has no lang");
  if (!document.querySelector("h1")) problems.push("no h1");
  let level = 0;
  for (const heading of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    const next = Number(heading.tagName[1]);
    if (next > level + 1) problems.push(`heading level skipped: ${describe(heading)}`);
    level = next;
  }

  for (const control of document.querySelectorAll("input, select, textarea")) {
    if (control.type === "hidden") continue;
    const labelled = [...(control.labels || [])].some((l) => l.textContent.trim());
    if (!labelled && !named(control)) problems.push(`no label: ${describe(control)}`);
  }
  for (const button of document.querySelectorAll("button, [role=button], a[href]")) {
    if (!button.textContent.trim() && !named(button)) problems.push(`no name: ${describe(button)}`);
  }
  for (const image of document.querySelectorAll("img")) {
    if (!image.hasAttribute("alt")) problems.push(`img without alt: ${image.src}`);
  }
  for (const graphic of document.querySelectorAll("svg[role=img]")) {
    if (!named(graphic) && !graphic.querySelector(":scope > title")) {
      problems.push("svg image without a name");
    }
  }

  // Colours: rgb()/rgba() from computed styles; a background is the first opaque one up
  // the tree, with translucent ones blended over it.
  const parse = (value) => {
    const found = value.match(/rgba?\(([^)]+)\)/);
    if (!found) return null;
    const [r, g, b, a = 1] = found[1]
      .split(/[\s,/]+/)
      .filter(Boolean)
      .map(Number);
    return { r, g, b, a };
  };
  const blend = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = (node) => {
    const layers = [];
    for (let at = node; at; at = at.parentElement) {
      const colour = parse(getComputedStyle(at).backgroundColor);
      if (colour && colour.a > 0) {
        layers.push(colour);
        if (colour.a >= 1) break;
      }
    }
    let result = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) result = blend(layer, result);
    return result;
  };
  const luminance = ({ r, g, b }) => {
    const channel = (c) => {
      const v = c / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const ratio = (one, two) => {
    const [light, dark] = [luminance(one), luminance(two)].sort((x, y) => y - x);
    return (light + 0.05) / (dark + 0.05);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const node = text.parentElement;
    if (!text.textContent.trim() || !node || seen.has(node) || !visible(node)) continue;
    if (node.closest("svg, [aria-hidden=true]")) continue;
    seen.add(node);
    const style = getComputedStyle(node);
    const colour = parse(style.color);
    if (!colour) continue;
    // disabled controls are exempt (WCAG 1.4.3); opacity dims both text and background
    if (node.closest("button:disabled")) continue;
    const back = background(node);
    const found = ratio(blend(colour, back), back);
    if (found < 4.5) problems.push(`contrast ${found.toFixed(2)}: ${describe(node)}`);
  }
  return problems;
};
