'use strict';
/* region.js — the projectteam's page (admin: any region or the nation).
 *
 * Headline figures against the targets (a miss in another colour and said in
 * words), the funnel with andere bestemming, a sortable table per school,
 * woongemeente, mbo-instelling or schoolsoort (GET /api/v1/stats?by=…), the
 * schools' deliveries and competing claims (GET /api/v1/freshness, when the
 * server has it), CSV of every table, a peildatum (as_of) for all figures, and
 * the cohort's year as a line chart against the previous cohort, fetched point
 * by point (a week each; a point the server cannot answer is left out). A
 * projectteam also gets its own alerts (GET /api/v1/alerts: escalations and
 * silent schools, no personal data) with "Afgehandeld" to acknowledge them.
 */
const COUNTS = ['overstappers', 'met_keuze', 'aangemeld', 'aangemeld_op_tijd', 'geplaatst', 'ingeschreven',
	'andere_bestemming', 'ddd', 'zomerlek', 'niet_gestart'];
const COUNT_LABEL = {
	overstappers: 'Overstappers', met_keuze: 'Met keuze', aangemeld: 'Aangemeld', aangemeld_op_tijd: 'Op tijd',
	geplaatst: 'Geplaatst', ingeschreven: 'Ingeschreven', andere_bestemming: 'Andere best.', ddd: 'Ddd',
	zomerlek: 'Zomerlek', niet_gestart: 'Niet gestart'
};
const COUNT_TITLE = {
	met_keuze: 'in beeld met een vervolgkeuze (status niet geen keuze)', aangemeld: 'status nu aangemeld',
	aangemeld_op_tijd: 'aangemeld vóór de aanmelddatum (1 april)', geplaatst: 'status nu geplaatst', ingeschreven: 'status nu ingeschreven',
	andere_bestemming: 'andere bestemming: havo, vwo, werk, buitenland of anders', ddd: 'met doorstroomdossier',
	zomerlek: 'met een zomerlek-signaal', niet_gestart: 'met een niet-gestart-signaal'
};
const PCTS = [['in_beeld_pct', 'In beeld', 'in beeld met een vervolgkeuze'], ['definitief_pct', 'Definitief', 'definitief geplaatst'],
	['ddd_pct', 'Ddd', 'met doorstroomdossier']];
const STATS_FIELDS = ['key', 'label', ...COUNTS, 'in_beeld_pct', 'definitief_pct', 'ddd_pct', 'suppressed'];
const VIEWS = [['vo_school', 'school', 'School'], ['woongemeente', 'woongemeente', 'Gemeente'],
	['mbo_instelling', 'mbo-instelling', 'Instelling'], ['vo_soort', 'schoolsoort', 'Schoolsoort']];
/* the chart's figures: percentages of the overstappers */
const FIGURES = [
	['in_beeld', 'in beeld', '#1f5f8b', r => r.in_beeld_pct],
	['aangemeld', 'aangemeld', '#7b4fa0', r => share(r.aangemeld + r.geplaatst + r.ingeschreven, r)],
	['geplaatst', 'geplaatst', '#d98a00', r => share(r.geplaatst + r.ingeschreven, r)],
	['definitief', 'definitief', '#1e7d4f', r => r.definitief_pct],
	['ddd', 'doorstroomdossier', '#b3261e', r => r.ddd_pct]
];
const MONTHS = ['jan', 'feb', 'mrt', 'apr', 'mei', 'jun', 'jul', 'aug', 'sep', 'okt', 'nov', 'dec'];
const DAY = 86400000;

function share(n, r) { return r.overstappers ? 100 * n / r.overstappers : 0; }

/* The rows added up (the nation from its regions), percentages as §5.2 has them. */
function total(rows, key, label) {
	const t = { key, label, suppressed: false };
	for (const c of COUNTS) t[c] = rows.reduce((s, r) => s + (r.suppressed ? 0 : r[c] || 0), 0);
	t.in_beeld_pct = share(t.met_keuze, t);
	t.definitief_pct = share(t.ingeschreven + t.andere_bestemming, t);
	t.ddd_pct = share(t.ddd, t);
	return t;
}

/* ---- calendar dates (YYYY-MM-DD, as the API takes as_of) ------------------------ */

function parseIso(s) { const [y, m, d] = s.split('-').map(Number); return Date.UTC(y, m - 1, d); }
function iso(t) { return new Date(t).toISOString().slice(0, 10); }
function yearEarlier(s) {
	const [y, m, d] = s.split('-').map(Number);
	const last = new Date(Date.UTC(y - 1, m, 0)).getUTCDate(); /* 29 February → 28 */
	return iso(Date.UTC(y - 1, m - 1, Math.min(d, last)));
}

ov.start(async function (who) {
	const isAdmin = who.role === 'admin';
	const today = ov.isoDate(who.now);
	let cohort = ov.cohortControl(who, c => { cohort = c; loadAll(); });
	let region = isAdmin ? (ov.params.get('region') || '') : who.organisation;
	let asOf = /^\d{4}-\d{2}-\d{2}$/.test(ov.params.get('as_of') || '') ? ov.params.get('as_of') : '';
	let view = VIEWS.some(v => v[0] === ov.params.get('by')) ? ov.params.get('by') : 'vo_school';
	let generation = 0; /* a newer load makes the older one's answers stale */
	const controls = ov.$('controls');

	/* -- controls: region (admin), peildatum */
	if (isAdmin) {
		const sel = ov.el('select', { attrs: { id: 'region' } }, ov.el('option', { text: 'landelijk', attrs: { value: '' } }));
		controls.append(ov.el('label', null, 'Regio', sel));
		try {
			const doc = await ov.get('/api/v1/stats?' + ov.query({ cohort, by: 'region', region: '' }));
			for (const r of doc.rows) if (r.key) sel.append(ov.el('option', { text: r.key + ' ' + r.label, attrs: { value: r.key } }));
		} catch (e) { /* the picker keeps "landelijk"; loadAll says what failed */ }
		if (region && !sel.querySelector('option[value="' + region + '"]')) sel.append(ov.el('option', { text: region, attrs: { value: region } }));
		sel.value = region;
		sel.addEventListener('change', () => { region = sel.value; ov.setParam('region', region); loadAll(); });
	}
	const asOfInput = ov.el('input', { attrs: { type: 'date', id: 'as_of', max: today, value: asOf } });
	const nowButton = ov.el('button', { text: 'vandaag', attrs: { type: 'button', title: 'de cijfers van nu' } });
	asOfInput.addEventListener('change', () => { asOf = asOfInput.value && asOfInput.value <= today ? asOfInput.value : ''; ov.setParam('as_of', asOf); loadAll(); });
	nowButton.addEventListener('click', () => { asOfInput.value = ''; asOf = ''; ov.setParam('as_of', ''); loadAll(); });
	controls.append(ov.el('label', null, 'Peildatum', asOfInput), nowButton);

	function statsQuery(extra) {
		const q = { cohort, by: 'region' };
		if (isAdmin) q.region = region;
		if (asOf) q.as_of = asOf;
		return '/api/v1/stats?' + ov.query(Object.assign(q, extra || {}));
	}
	function where() { return region ? 'regio ' + region : 'landelijk'; }

	/* -- headline and funnel */
	function headline(doc) {
		const rows = doc.rows || [];
		const row = region ? (rows.find(r => r.key === region) || total(rows, region, '')) : total(rows, '', 'landelijk');
		const t = doc.targets || {};
		ov.$('headline-title').textContent = 'Kerncijfers ' + where() + (row.label && region ? ' ' + row.label : '') + ' · cohort ' + cohort +
			(asOf ? ' · peildatum ' + ov.isoToNl(asOf) : '');
		const k = ov.clear(ov.$('kpis'));
		k.dataset.key = row.key;
		k.append(ov.el('div', { cls: 'kpi', data: { metric: 'overstappers', value: row.overstappers } },
			ov.el('span', { cls: 'v', text: ov.num(row.overstappers) }), ov.el('span', { cls: 'l', text: 'overstappers' }),
			ov.el('span', { cls: 't', text: ov.num(row.met_keuze) + ' met een keuze' })));
		for (const [key, , text] of PCTS) {
			const target = t[key], v = row[key], met = v >= target;
			k.append(ov.el('div', { cls: 'kpi ' + (met ? 'met' : 'miss'), data: { metric: key, value: v, target, met } },
				ov.el('span', { cls: 'v', text: ov.pct(v) }), ov.el('span', { cls: 'l', text }),
				ov.el('span', { cls: 't', data: { gap: v - target }, text: 'doel ' + ov.pct(target) + ' · ' + (met ? '✓ gehaald' : '✗ onder doel (' + ov.pts(v - target) + ')') })));
		}
		for (const [key, text] of [['aangemeld_op_tijd', 'op tijd aangemeld (vóór de aanmelddatum)'], ['zomerlek', 'zomerlek'], ['niet_gestart', 'niet gestart']]) {
			k.append(ov.el('div', { cls: 'kpi', data: { metric: key, value: row[key] } },
				ov.el('span', { cls: 'v', text: ov.num(row[key]) }), ov.el('span', { cls: 'l', text })));
		}
		funnel(row);
		return row;
	}
	function funnel(row) {
		const f = ov.clear(ov.$('funnel'));
		const stages = [
			['overstappers', 'Overstappers', row.overstappers],
			['met_keuze', 'Met keuze', row.met_keuze],
			['aangemeld', 'Aangemeld', row.aangemeld + row.geplaatst + row.ingeschreven],
			['geplaatst', 'Geplaatst', row.geplaatst + row.ingeschreven],
			['ingeschreven', 'Ingeschreven', row.ingeschreven],
			['andere_bestemming', 'Andere bestemming', row.andere_bestemming]
		];
		const max = Math.max(1, row.overstappers);
		for (const [key, text, n] of stages) {
			const bar = ov.el('div', { cls: 'bar' + (key === 'andere_bestemming' ? ' side' : '') });
			bar.style.width = (100 * n / max).toFixed(2) + '%';
			f.append(ov.el('div', { cls: 'name', text }), ov.el('div', { cls: 'track' }, bar),
				ov.el('div', { cls: 'n', data: { funnel: key, value: n }, text: ov.num(n) + ' (' + ov.pct(share(n, row)) + ')' }));
		}
	}

	/* -- the table per grouping */
	const groupSection = ov.$('groups');
	let groupDoc = null;
	ov.toggles(ov.$('tabs'), 'view', VIEWS.map(v => [v[0], v[1]]), view, v => { view = v; ov.setParam('by', v === 'vo_school' ? '' : v); loadGroups(generation); });
	groupSection.querySelector('.tools').append(ov.csvLink('groups', () => ({
		filename: 'overstap-' + view + '-' + (region || 'landelijk') + '-' + cohort + (asOf ? '-' + asOf : ''),
		text: ov.csv(groupDoc && groupDoc.rows.length ? Object.keys(groupDoc.rows[0]) : STATS_FIELDS, groupDoc ? groupDoc.rows : [],
			(r, f) => r.suppressed && !['key', 'label', 'suppressed'].includes(f))
	})));
	function groupTable(doc) {
		const t = doc.targets || {};
		const name = VIEWS.find(v => v[0] === view)[2];
		const cols = [
			{ key: 'key', label: 'Code', show: r => r.key || '(onbekend)' },
			{ key: 'label', label: name, show: r => view === 'vo_soort' && ov.VO_SOORT[r.key] && (!r.label || r.label === r.key) ? ov.VO_SOORT[r.key] : r.label || r.key || '(onbekend)' }
		];
		for (const c of COUNTS) cols.push({ key: c, label: COUNT_LABEL[c], title: COUNT_TITLE[c], type: 'num', suppressible: true });
		for (const [key, label] of PCTS) cols.push({ key, label: label + ' %', type: 'pct', suppressible: true, miss: r => r[key] < t[key], title: 'doel ' + ov.pct(t[key]) });
		const table = new ov.Table({ name: 'stats-' + view, columns: cols, rowKey: r => r.key, rowData: r => ({ suppressed: r.suppressed }), empty: 'Geen leerlingen in deze groepering.' });
		table.node.dataset.by = view;
		table.set(doc.rows);
		ov.clear(ov.$('group-table')).append(table.node);
	}
	async function loadGroups(gen) {
		groupSection.dataset.state = 'loading';
		try {
			const doc = await ov.get(statsQuery({ by: view }));
			if (gen !== generation) return;
			groupDoc = doc;
			groupTable(doc);
			groupSection.dataset.by = view;
			groupSection.dataset.state = 'ready';
		} catch (e) {
			if (gen !== generation) return;
			groupDoc = null;
			ov.clear(ov.$('group-table')).append(ov.el('p', { cls: 'notice', text: problem(e) }));
			groupSection.dataset.state = 'error';
		}
	}

	/* -- deliveries per school */
	const freshSection = ov.$('freshness');
	let freshDoc = null;
	freshSection.querySelector('.tools').append(ov.csvLink('freshness', () => ({
		filename: 'aanlevering-' + (region || 'landelijk') + '-' + cohort,
		text: ov.csv(freshDoc && freshDoc.schools.length ? Object.keys(freshDoc.schools[0]) : ['vo_school', 'label', 'last_received_at', 'events_14d', 'silent', 'competing_claims'],
			freshDoc ? freshDoc.schools : [])
	})));
	async function loadFreshness(gen) {
		freshSection.dataset.state = 'loading';
		const box = ov.$('fresh-table'), note = ov.$('fresh-note');
		try {
			const q = { cohort };
			if (isAdmin) q.region = region;
			const doc = await ov.get('/api/v1/freshness?' + ov.query(q));
			if (gen !== generation) return;
			freshDoc = doc;
			const table = new ov.Table({
				name: 'freshness', rowKey: s => s.vo_school, rowClass: s => s.silent ? 'silent' : '', rowData: s => ({ silent: s.silent }),
				empty: 'Geen scholen.',
				columns: [
					{ key: 'vo_school', label: 'Code' },
					{ key: 'label', label: 'School', show: s => s.label || s.vo_school },
					{ key: 'last_received_at', label: 'Laatste gebeurtenis', type: 'date', show: s => ov.dateTime(s.last_received_at) },
					{ key: 'events_14d', label: 'Gebeurtenissen 14 dagen', type: 'num' },
					{ key: 'silent', label: 'Stil', value: s => s.silent ? 1 : 0, show: s => s.silent ? ov.el('span', { cls: 'badge stil', text: '⚠ stil' })
						: !s.last_received_at ? ov.el('span', { cls: 'badge', text: 'nog niets' })
						: ov.el('span', { cls: 'badge ok', text: 'levert aan' }) },
					{ key: 'competing_claims', label: 'Concurrerende claims', type: 'num', miss: s => s.competing_claims > 0 }
				]
			});
			table.set(doc.schools);
			ov.clear(box).append(table.node);
			const silent = doc.schools.filter(s => s.silent).length;
			note.textContent = 'Stil: niets ontvangen in ' + doc.silent_after_days + ' dagen (' + silent + ' van ' + doc.schools.length +
				' scholen). Concurrerende claims: leerlingen die ook door een andere school zijn aangemeld.';
			freshSection.dataset.state = 'ready';
		} catch (e) {
			if (gen !== generation) return;
			freshDoc = null;
			ov.clear(box).append(ov.el('p', { cls: 'notice', text: e.status === 404 ? 'Het aanleveringsoverzicht is op deze server nog niet beschikbaar.' : problem(e) }));
			note.textContent = '';
			freshSection.dataset.state = e.status === 404 ? 'unavailable' : 'error';
		}
	}

	function problem(e) {
		if (e.code === 'AS_OF_UNAVAILABLE') return 'Voor peildatum ' + ov.isoToNl(asOf) + ' zijn geen exacte cijfers meer (bewaartermijn verstreken).';
		return 'Niet geladen: ' + e.message;
	}

	/* -- the year, week by week, against the previous cohort */
	const chartCard = ov.$('chart-card');
	let points = []; /* {i, date, cohort, row} */
	let milestones = [];
	chartCard.querySelector('.tools').append(ov.csvLink('chart', () => ({
		filename: 'verloop-' + (region || 'landelijk') + '-' + cohort,
		text: ov.csv(['cohort', 'as_of', ...FIGURES.map(f => f[0])],
			points.slice().sort((a, b) => a.cohort - b.cohort || a.i - b.i).map(p => Object.assign({ cohort: p.cohort, as_of: p.date },
				Object.fromEntries(FIGURES.map(f => [f[0], f[3](p.row)])))))
	})));
	function chartDates() {
		const start = parseIso((cohort - 1) + '-10-01'), stop = Math.min(parseIso(cohort + '-10-01'), parseIso(today));
		const out = [];
		for (let t = start, i = 0; t <= stop; t += 7 * DAY, i++) out.push({ i, date: iso(t) });
		return out;
	}
	async function loadChart(gen) {
		const note = ov.$('chart-note');
		points = [];
		milestones = [];
		const dates = chartDates();
		chartCard.dataset.state = 'loading';
		chartCard.dataset.points = '0';
		chartCard.dataset.skipped = '0';
		drawChart();
		if (!dates.length) {
			note.textContent = 'Cohort ' + cohort + ' heeft nog geen verloop.';
			chartCard.dataset.state = 'none';
			return;
		}
		note.textContent = 'Laden…';
		/* the newest point first: it says whether the server knows a peildatum at all */
		const last = dates[dates.length - 1];
		let probe;
		try {
			probe = await ov.get(statsQuery({ as_of: last.date }));
		} catch (e) {
			probe = e;
		}
		if (gen !== generation) return;
		const failed = probe instanceof Error;
		if (failed && !(probe.code === 'AS_OF_UNAVAILABLE' || probe.status === 400)) {
			note.textContent = 'Verloop niet geladen: ' + probe.message;
			chartCard.dataset.state = 'error';
			return;
		}
		if (!failed && !('milestones' in probe) && !('as_of' in probe)) {
			note.textContent = 'Deze server geeft nog geen cijfers per peildatum (as_of): het verloop door het jaar is niet beschikbaar.';
			chartCard.dataset.state = 'unavailable';
			return;
		}
		let skipped = failed ? 1 : 0, done = 1;
		if (!failed) {
			milestones = probe.milestones || [];
			addPoint(last, cohort, probe);
		}
		const jobs = [];
		for (const d of dates) {
			if (d !== last) jobs.push([d, cohort, d.date]);
			jobs.push([d, cohort - 1, yearEarlier(d.date)]);
		}
		const all = jobs.length + 1;
		async function worker() {
			while (jobs.length) {
				const [d, c, asof] = jobs.shift();
				try {
					const q = { cohort: c, by: 'region', as_of: asof };
					if (isAdmin) q.region = region;
					const doc = await ov.get('/api/v1/stats?' + ov.query(q));
					if (gen !== generation) return;
					if (c === cohort && !milestones.length && doc.milestones) milestones = doc.milestones;
					addPoint(d, c, doc);
				} catch (e) {
					if (gen !== generation) return;
					skipped++; /* AS_OF_UNAVAILABLE (or in the future): that point is left out */
				}
				done++;
				chartCard.dataset.skipped = String(skipped);
				note.textContent = 'Laden… ' + done + ' van ' + all + ' punten';
			}
		}
		await Promise.all([worker(), worker(), worker()]);
		if (gen !== generation) return;
		note.textContent = 'Wekelijks, als percentage van de overstappers; cohort ' + cohort + ' doorgetrokken, cohort ' + (cohort - 1) +
			' (een jaar eerder) gestreept; ◆ mijlpalen.' + (skipped ? ' ' + skipped + ' punten zonder exacte cijfers weggelaten.' : '');
		chartCard.dataset.state = 'done';
	}
	function addPoint(d, c, doc) {
		const rows = doc.rows || [];
		const row = region ? (rows.find(r => r.key === region) || total(rows, region, '')) : total(rows, '', 'landelijk');
		points.push({ i: d.i, date: c === cohort ? d.date : yearEarlier(d.date), cohort: c, row });
		chartCard.dataset.points = String(points.length);
		drawChart();
	}
	function drawChart() {
		const W = 1200, H = 330, L = 44, R = 12, T = 24, B = 28;
		const start = parseIso((cohort - 1) + '-10-01'), span = parseIso(cohort + '-10-01') - start;
		const x = t => L + (W - L - R) * (t - start) / span;
		const xi = i => x(start + i * 7 * DAY);
		const y = p => T + (H - T - B) * (100 - Math.max(0, Math.min(100, p))) / 100;
		const s = ov.svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'verloop door het jaar', 'data-cohort': cohort });
		for (const p of [0, 25, 50, 75, 100]) {
			s.append(ov.svg('line', { x1: L, x2: W - R, y1: y(p), y2: y(p), class: 'grid' }));
			s.append(ov.svg('text', { x: L - 6, y: y(p) + 4, 'text-anchor': 'end' }, p + '%'));
		}
		for (let m = 0; m <= 12; m++) {
			const t = Date.UTC(cohort - 1, 9 + m, 1);
			s.append(ov.svg('line', { x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4, class: 'axis' }));
			if (m < 12) s.append(ov.svg('text', { x: x(t) + 3, y: H - 8 }, MONTHS[(9 + m) % 12]));
		}
		s.append(ov.svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }));
		if (asOf) {
			const t = parseIso(asOf);
			if (t >= start && t <= start + span) {
				s.append(ov.svg('line', { x1: x(t), x2: x(t), y1: T, y2: H - B, class: 'asof', 'data-asof': asOf }));
				s.append(ov.svg('text', { x: x(t), y: T - 8, 'text-anchor': 'middle' }, 'peildatum ' + ov.isoToNl(asOf)));
			}
		}
		for (const c of [cohort - 1, cohort]) {
			const mine = points.filter(p => p.cohort === c).sort((a, b) => a.i - b.i);
			for (const [fig, , colour, value] of FIGURES) {
				if (mine.length > 1) {
					s.append(ov.svg('polyline', {
						points: mine.map(p => xi(p.i).toFixed(1) + ',' + y(value(p.row)).toFixed(1)).join(' '), fill: 'none', stroke: colour,
						'stroke-width': c === cohort ? 2.5 : 1.5, class: c === cohort ? '' : 'prev', 'data-line': fig, 'data-cohort': c
					}));
				}
				for (const p of mine) {
					const v = value(p.row);
					const dot = ov.svg('circle', { cx: xi(p.i).toFixed(1), cy: y(v).toFixed(1), r: c === cohort ? 2.5 : 1.8, fill: colour, 'data-series': fig, 'data-cohort': c, 'data-date': p.date, 'data-value': v });
					dot.append(ov.svg('title', {}, fig + ' ' + ov.pct(v) + ' op ' + ov.isoToNl(p.date) + ' (cohort ' + c + ')'));
					s.append(dot);
				}
			}
		}
		for (const m of milestones) {
			const f = FIGURES.find(x => x[0] === m.figure);
			const t = parseIso(m.date), cx = x(t), cy = y(m.pct);
			const g = ov.svg('g', { 'data-milestone': m.figure, 'data-pct': m.pct, 'data-date': m.date });
			g.append(ov.svg('path', { d: 'M' + cx + ' ' + (cy - 6) + 'l6 6l-6 6l-6 -6z', fill: '#fff', stroke: f ? f[2] : '#000', 'stroke-width': 2 }));
			const right = cx > W - 200;
			g.append(ov.svg('text', { x: right ? cx - 9 : cx + 9, y: cy + 4, 'text-anchor': right ? 'end' : 'start' }, (f ? f[1] : m.figure) + ' ' + ov.pct(m.pct, 0) + ' op ' + ov.isoToNl(m.date).slice(0, 5)));
			g.append(ov.svg('title', {}, 'mijlpaal: ' + (f ? f[1] : m.figure) + ' ' + ov.pct(m.pct, 0) + ' op ' + ov.isoToNl(m.date)));
			s.append(g);
		}
		ov.clear(ov.$('chart')).append(s);
		const legend = ov.clear(ov.$('legend'));
		for (const [fig, text, colour] of FIGURES) {
			const sw = ov.el('span', { cls: 'sw' });
			sw.style.background = colour;
			legend.append(ov.el('span', { data: { legend: fig } }, sw, text));
		}
		legend.append(ov.el('span', null, ov.el('span', { cls: 'sw dash' }), 'cohort ' + (cohort - 1)));
	}

	/* -- everything, for the current cohort, region and peildatum */
	async function loadAll() {
		const gen = ++generation;
		document.body.dataset.loading = 'true';
		ov.status('laden…');
		const note = ov.$('asof-note');
		note.textContent = '';
		const tasks = [loadGroups(gen), loadFreshness(gen)];
		try {
			const doc = await ov.get(statsQuery());
			if (gen !== generation) return;
			headline(doc);
			if (asOf && !('milestones' in doc) && !('as_of' in doc))
				note.textContent = 'Let op: deze server kent nog geen peildatum; dit zijn de cijfers van nu.';
			ov.$('headline').dataset.state = 'ready';
			ov.status('cohort ' + cohort + ' · ' + where() + ' · ' + (asOf ? 'peildatum ' + ov.isoToNl(asOf) : ov.stamp()));
		} catch (e) {
			if (gen !== generation) return;
			ov.clear(ov.$('kpis'));
			ov.clear(ov.$('funnel'));
			ov.$('headline').dataset.state = 'error';
			note.textContent = problem(e);
			ov.status(problem(e), e.code !== 'AS_OF_UNAVAILABLE');
		}
		await Promise.all(tasks);
		if (gen === generation) delete document.body.dataset.loading;
		/* the chart comes after the tables, point by point */
		loadChart(gen);
	}
	/* -- the projectteam's own queue (admin has none: the region picker is not its) */
	let signals = null;
	if (who.role === 'projectteam') {
		ov.$('signals').hidden = false;
		signals = new ov.AlertList(ov.$('signals'), { personal: false });
	}
	await Promise.all([loadAll(), signals && signals.load().catch(e => {
		const section = ov.$('signals');
		section.dataset.state = e.status === 404 ? 'unavailable' : 'error';
		if (e.status === 404) section.append(ov.el('p', { cls: 'notice', text: 'Signalen zijn op deze server niet beschikbaar.' }));
		else ov.status('Signalen niet geladen: ' + e.message, true);
	})]);
});
