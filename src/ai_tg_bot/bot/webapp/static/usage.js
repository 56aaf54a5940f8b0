// Usage: tokens per day as an inline SVG bar chart (no chart library), the month against
// its budget, bought tokens left, and the payments.
import { add, day, el, fill, getJSON, moment, number, state, t } from "./core.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 300;
const HEIGHT = 120;
const GAP = 2;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// One bar per day (oldest first); the daily budget, when set, as a dashed line.
export function barChart(days, dailyBudget, labelId) {
  const top = Math.max(1, dailyBudget || 0, ...days.map((d) => d.tokens)) * 1.1;
  const slot = WIDTH / days.length;
  const chart = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-labelledby": labelId,
  });
  days.forEach((d, index) => {
    // a day with any tokens shows at least a sliver
    const height = d.tokens > 0 ? Math.max(1.5, (d.tokens / top) * HEIGHT) : 0;
    const bar = svg(
      "rect",
      {
        class: index === days.length - 1 ? "bar today" : "bar",
        x: (index * slot + GAP / 2).toFixed(2),
        y: (HEIGHT - height).toFixed(2),
        width: (slot - GAP).toFixed(2),
        height: height.toFixed(2),
        "data-date": d.date,
        "data-tokens": String(d.tokens),
      },
      svg("title", {}, `${day(d.date)}: ${number(d.tokens)}`),
    );
    chart.append(bar);
  });
  chart.append(svg("line", { class: "baseline", x1: 0, x2: WIDTH, y1: HEIGHT, y2: HEIGHT }));
  if (dailyBudget > 0) {
    const y = (HEIGHT - (dailyBudget / top) * HEIGHT).toFixed(2);
    chart.append(svg("line", { class: "budget", x1: 0, x2: WIDTH, y1: y, y2: y }));
  }
  return chart;
}

function chartFigure(usage) {
  const days = usage.days;
  const today = days.length ? days[days.length - 1].tokens : 0;
  const most = Math.max(0, ...days.map((d) => d.tokens));
  const caption = [fill("chart_summary", { today: number(today), max: number(most) })];
  if (usage.daily_budget > 0) caption.push(fill("daily_budget", { n: number(usage.daily_budget) }));
  const axis = days.length
    ? el(
        "div",
        { class: "axis hint small", "aria-hidden": "true" },
        el("span", { text: day(days[0].date, "short") }),
        el("span", { text: day(days[days.length - 1].date, "short") }),
      )
    : null;
  return el(
    "figure",
    { class: "card" },
    barChart(days, usage.daily_budget, "chart-heading"),
    axis,
    el("figcaption", { class: "small", text: caption.join(" ") }),
  );
}

function monthPart(usage) {
  const used = number(usage.month_tokens);
  const limited = usage.monthly_budget > 0;
  const line = limited
    ? fill("month_used", { used, budget: number(usage.monthly_budget) })
    : fill("month_unlimited", { used });
  const meter = limited
    ? el("progress", {
        max: String(usage.monthly_budget),
        value: String(Math.min(usage.month_tokens, usage.monthly_budget)),
        "aria-labelledby": "month-line",
      })
    : null;
  return [
    el("h2", { text: t("month_heading") }),
    el("p", { id: "month-line", text: line }),
    meter,
    sold(usage)
      ? el("p", { class: "credit", text: fill("credit", { n: number(usage.credit) }) })
      : null,
  ];
}

// Bought tokens and payments are shown where the bot sells tokens (or sold them once).
const sold = (usage) => state.me.features.payments || usage.credit > 0 || usage.payments.length;

function paymentItem(payment) {
  return el(
    "li",
    { class: "row" },
    el(
      "span",
      { class: "row-title" },
      el("span", {
        text: fill("payment_line", {
          stars: number(payment.stars),
          tokens: number(payment.tokens),
        }),
      }),
      payment.refunded ? el("span", { class: "badge muted", text: t("refunded") }) : null,
    ),
    el("span", { class: "row-meta", text: moment(payment.created_at) }),
  );
}

export async function usageView(section) {
  const usage = await getJSON("/usage");
  const payments = usage.payments.map(paymentItem);
  add(
    section,
    el("h1", { text: t("usage_heading") }),
    el("h2", { id: "chart-heading", text: t("chart_heading") }),
    chartFigure(usage),
    ...monthPart(usage),
  );
  if (!sold(usage)) return;
  add(
    section,
    el("h2", { text: t("payments_heading") }),
    payments.length
      ? el("ul", { class: "list payments" }, ...payments)
      : el("p", { class: "hint", text: t("payments_empty") }),
  );
}
