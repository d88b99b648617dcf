// Usage over time: GET /usage answers the billed seconds within a period,
// grouped by application, location and resource profile. The chart asks it
// once per bucket (a day of the last 14, or an hour of the last 24) and
// stacks each bucket's seconds by application; the table below asks once for
// the whole period, since sessions spanning buckets would otherwise count
// more than once.

import { ApiError, accessMessage, errorBox, get } from './api.js';
import { duration, h, replace, svg } from './dom.js';

export const title = 'Usage';

const RANGES = {
  days: { label: 'Last 14 days, per day', count: 14, step: 'day' },
  hours: { label: 'Last 24 hours, per hour', count: 24, step: 'hour' },
};

// Series colours come from CSS classes (.series-N), not inline styles.
const SERIES = 8;

export function mount(root) {
  const select = h('select', { 'data-testid': 'usage-range' },
    Object.entries(RANGES).map(([value, r]) => h('option', { value }, r.label)));
  const refreshButton = h('button', { type: 'button' }, 'Refresh');
  const chartSlot = h('div', { class: 'card chart-card', 'data-testid': 'usage-chart-card' });
  const tableSlot = h('div');
  replace(root,
    h('div', { class: 'view-head' }, h('h2', null, 'Usage'), select, refreshButton),
    chartSlot, tableSlot);

  let generation = 0;
  const load = async () => {
    // A slow answer for the old range must not overwrite the new one.
    const mine = ++generation;
    replace(chartSlot, h('p', { class: 'muted' }, 'Loading…'));
    const buckets = bucketsOf(RANGES[select.value]);
    try {
      const [total, ...reports] = await Promise.all([
        report(buckets[0].from, buckets[buckets.length - 1].to),
        ...buckets.map((b) => report(b.from, b.to)),
      ]);
      if (mine !== generation) return;
      buckets.forEach((b, i) => { b.report = reports[i]; });
      replace(chartSlot, chart(buckets, RANGES[select.value]));
      replace(tableSlot, totals(total));
    } catch (err) {
      if (mine !== generation) return;
      replace(chartSlot, err instanceof ApiError && err.status === 403 ? accessMessage(err, 'usage', 'usage') : errorBox(err));
      replace(tableSlot);
    }
  };
  select.addEventListener('change', load);
  refreshButton.addEventListener('click', load);
  load();
  return () => { generation++; };
}

function report(from, to) {
  return get(`/usage?from=${encodeURIComponent(rfc3339(from))}&to=${encodeURIComponent(rfc3339(to))}`);
}

// The server takes RFC 3339 in whole seconds; toISOString adds milliseconds.
function rfc3339(d) {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// bucketsOf splits the range into periods on local day or hour boundaries;
// the last one ends now.
function bucketsOf(range) {
  const now = new Date();
  const start = new Date(now);
  if (range.step === 'day') start.setHours(0, 0, 0, 0);
  else start.setMinutes(0, 0, 0);
  const buckets = [];
  for (let i = range.count - 1; i >= 0; i--) {
    const from = new Date(start);
    const to = new Date(start);
    if (range.step === 'day') {
      // setDate, not 24 h arithmetic: a day across a DST change is 23 or 25 h.
      from.setDate(from.getDate() - i);
      to.setDate(to.getDate() - i + 1);
    } else {
      from.setHours(from.getHours() - i);
      to.setHours(to.getHours() - i + 1);
    }
    buckets.push({ from, to: to > now ? now : to });
  }
  return buckets;
}

// unitFor picks the unit the axis counts in from the tallest bar.
function unitFor(maxSeconds) {
  if (maxSeconds < 120) return { name: 'seconds', div: 1 };
  if (maxSeconds < 7200) return { name: 'minutes', div: 60 };
  return { name: 'hours', div: 3600 };
}

// niceStep returns a round tick step giving about four ticks up to max.
function niceStep(max) {
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
}

function chart(buckets, range) {
  const apps = [...new Set(buckets.flatMap((b) => b.report.lines.map((l) => l.application)))].sort();
  const bySeries = (b) => apps.map((app) => b.report.lines
    .filter((l) => l.application === app)
    .reduce((acc, l) => acc + l.seconds, 0));
  const stacks = buckets.map(bySeries);
  const maxSeconds = Math.max(0, ...stacks.map((s) => s.reduce((a, v) => a + v, 0)));
  const unit = unitFor(maxSeconds);
  const step = niceStep(Math.max(maxSeconds / unit.div, 1));
  const top = Math.max(step, Math.ceil(maxSeconds / unit.div / step) * step);

  const W = 860;
  const H = 280;
  const pad = { left: 56, right: 12, top: 16, bottom: 40 };
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const slot = plotW / buckets.length;
  const barW = Math.max(4, slot * 0.7);
  const y = (v) => pad.top + plotH - (v / top) * plotH;

  const grid = [];
  for (let v = 0; v <= top + 1e-9; v += step) {
    grid.push(svg('line', { class: 'grid', x1: pad.left, x2: W - pad.right, y1: y(v), y2: y(v) }));
    grid.push(svg('text', { class: 'tick', x: pad.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, formatTick(v)));
  }
  const labelEvery = buckets.length > 16 ? 3 : 1;
  const bars = buckets.map((b, i) => {
    const x = pad.left + i * slot + (slot - barW) / 2;
    let acc = 0;
    const segments = stacks[i].map((seconds, s) => {
      if (!seconds) return null;
      const y0 = y(acc / unit.div);
      acc += seconds;
      const y1 = y(acc / unit.div);
      return svg('rect', { class: `bar series-${s % SERIES}`, 'data-testid': 'usage-bar', x, y: y1, width: barW, height: Math.max(1, y0 - y1) },
        svg('title', null, `${apps[s]}: ${duration(seconds)} (${bucketLabel(b, range, true)})`));
    });
    const label = i % labelEvery === 0
      ? svg('text', { class: 'tick', x: x + barW / 2, y: H - pad.bottom + 16, 'text-anchor': 'middle' }, bucketLabel(b, range))
      : null;
    return svg('g', { 'data-testid': 'usage-bucket', 'data-from': rfc3339(b.from) }, segments, label);
  });
  const total = stacks.flat().reduce((a, v) => a + v, 0);
  return [
    h('div', { class: 'chart-head' },
      h('h3', null, `Billed time: ${duration(total)}`),
      h('span', { class: 'muted small' }, `${range.label}, in ${unit.name}`)),
    svg('svg', { class: 'chart', 'data-testid': 'usage-chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Billed ${unit.name} ${range.label.toLowerCase()}` },
      grid,
      svg('line', { class: 'axis', x1: pad.left, x2: W - pad.right, y1: y(0), y2: y(0) }),
      bars),
    apps.length
      ? h('ul', { class: 'legend' }, apps.map((app, s) => h('li', null, h('span', { class: `swatch series-${s % SERIES}` }), app)))
      : h('p', { class: 'muted', 'data-testid': 'usage-none' }, 'Nothing was billed in this period.'),
  ];
}

function formatTick(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function bucketLabel(b, range, long = false) {
  if (range.step === 'day') {
    return b.from.toLocaleDateString(undefined, long ? { dateStyle: 'medium' } : { month: 'short', day: 'numeric' });
  }
  return b.from.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

function totals(report) {
  const lines = [...report.lines].sort((a, b) => b.seconds - a.seconds);
  const anyPriced = lines.some((l) => l.priced);
  const cost = (l) => (l.priced ? money(l.cost) : '—');
  return h('section', { class: 'card' },
    h('h3', null, 'Totals by application and location'),
    h('p', { class: 'muted small' }, `${new Date(report.from).toLocaleString()} – ${new Date(report.to).toLocaleString()}`),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'usage-table' },
      h('thead', null, h('tr', null,
        h('th', null, 'Application'), h('th', null, 'Location'), h('th', null, 'Profile'),
        h('th', { class: 'num' }, 'Sessions'), h('th', { class: 'num' }, 'Billed'), h('th', { class: 'num', 'data-testid': 'usage-cost-head' }, report.currency ? `Cost (${report.currency})` : 'Cost'))),
      h('tbody', null, lines.length
        ? lines.map((l) => h('tr', { 'data-testid': 'usage-line' },
          h('td', null, l.application), h('td', null, l.location),
          h('td', { class: 'muted' }, `${l.profile.milliCpu}m CPU · ${l.profile.memoryMb} MiB`),
          h('td', { class: 'num' }, l.sessions), h('td', { class: 'num' }, duration(l.seconds)),
          h('td', { class: 'num' }, cost(l))))
        : h('tr', null, h('td', { colspan: '6', class: 'empty' }, 'Nothing was billed in this period.'))),
      h('tfoot', null, h('tr', null,
        h('th', { colspan: '4' }, 'Total'),
        h('th', { class: 'num', 'data-testid': 'usage-total' }, duration(report.totalSeconds)),
        h('th', { class: 'num' }, anyPriced ? money(report.totalCost) : '—'))))));
}

// money shows a cost; the column's head names the report's currency. Small
// amounts keep four decimals, so that a test session is not "0.00".
function money(n) {
  return n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: n < 1 ? 4 : 2 });
}
