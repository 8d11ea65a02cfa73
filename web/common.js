'use strict';
/* common.js — what every page of overstapd's HTTPS side shares (DESIGN §6.2).
 *
 * The API calls (same origin; the browser's client certificate says who asks),
 * Dutch formatting (decimal comma), the DOM builder (textContent only: names
 * come from schools and never become markup), sortable tables whose cells carry
 * data-field / data-value for tests, CSV downloads of exactly the API's rows,
 * a pupil's timeline, and the alert worklist of rmc.js and vo.js.
 * No inline script or style anywhere: the page's CSP forbids both.
 */
const ov = (function () {
	const ov = {};
	ov.params = new URLSearchParams(location.search);

	/* ---- formatting ------------------------------------------------------- */

	ov.num = function (n) {
		if (n === null || n === undefined || Number.isNaN(n)) return '–';
		const s = String(Math.round(n));
		return s.replace(/\B(?=(\d{3})+(?!\d))/g, '.');
	};
	ov.pct = function (x, digits) {
		if (x === null || x === undefined || Number.isNaN(x)) return '–';
		return Number(x).toFixed(digits === undefined ? 1 : digits).replace('.', ',') + '%';
	};
	ov.pts = function (x) { /* a gap in percentage points, signed */
		const s = Math.abs(x).toFixed(1).replace('.', ',');
		return (x < 0 ? '−' : '+') + s + ' pt';
	};
	const dateFmt = new Intl.DateTimeFormat('nl-NL', { timeZone: 'Europe/Amsterdam', day: '2-digit', month: '2-digit', year: 'numeric' });
	const timeFmt = new Intl.DateTimeFormat('nl-NL', { timeZone: 'Europe/Amsterdam', hour: '2-digit', minute: '2-digit' });
	const isoFmt = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Amsterdam', year: 'numeric', month: '2-digit', day: '2-digit' });
	ov.date = function (unix) { return unix ? dateFmt.format(new Date(unix * 1000)) : '–'; };
	ov.dateTime = function (unix) { return unix ? dateFmt.format(new Date(unix * 1000)) + ' ' + timeFmt.format(new Date(unix * 1000)) : '–'; };
	ov.isoDate = function (unix) { return isoFmt.format(new Date(unix * 1000)); }; /* YYYY-MM-DD in Amsterdam */
	ov.isoToNl = function (iso) { const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || ''); return m ? m[3] + '-' + m[2] + '-' + m[1] : (iso || '–'); };

	/* ---- names ------------------------------------------------------------ */

	ov.STATUS = {
		GEEN_KEUZE: 'geen keuze', KEUZE: 'keuze gemaakt', AANGEMELD: 'aangemeld', GEPLAATST: 'geplaatst',
		INGESCHREVEN: 'ingeschreven', ANDERE_BESTEMMING: 'andere bestemming', ZONDER_PLEK: 'zonder plek',
		NIET_GESTART: 'niet gestart', BLIJFT_IN_VO: 'blijft in vo'
	};
	ov.EVENT = {
		OVERSTAPPER_GEREGISTREERD: 'overstapper geregistreerd', KEUZE_GEREGISTREERD: 'keuze geregistreerd',
		DDD_AANGELEVERD: 'doorstroomdossier aangeleverd', DIPLOMA_BEHAALD: 'diploma behaald',
		NIET_GESLAAGD: 'niet geslaagd', VO_UITGESCHREVEN: 'uitgeschreven in vo',
		AANMELDING_ONTVANGEN: 'aanmelding ontvangen', AANGEMELD: 'aangemeld',
		OVEREENKOMST_AANGEBODEN: 'onderwijsovereenkomst aangeboden', LEIDT_NIET_TOT_INSCHRIJVING: 'leidt niet tot inschrijving',
		INGETROKKEN: 'aanmelding ingetrokken', INGESCHREVEN: 'ingeschreven', NIET_GESTART: 'niet gestart',
		MBO_UITGESCHREVEN: 'uitgeschreven in mbo'
	};
	ov.ALERT = {
		ZOMERLEK: 'zomerlek', NIET_GESTART: 'niet gestart', GEEN_AANMELDING: 'geen aanmelding',
		ESCALATIE: 'escalatie', OPGELOST: 'opgelost', SCHOOL_STIL: 'school stil'
	};
	ov.VO_SOORT = {
		VMBO_BB: 'vmbo basis', VMBO_KB: 'vmbo kader', VMBO_GL: 'vmbo gemengd', VMBO_TL: 'vmbo theoretisch', HAVO: 'havo',
		VWO: 'vwo', VSO: 'voortgezet speciaal onderwijs', PRO: 'praktijkonderwijs', ISK: 'internationale schakelklas'
	};
	ov.BESTEMMING = { MBO: 'mbo', HAVO: 'havo', VWO: 'vwo', WERK: 'werk', BUITENLAND: 'buitenland', ANDERS: 'anders' };
	ov.ROLE = { rmc: 'RMC-regio', vo: 'vo-school', mbo: 'mbo-instelling', projectteam: 'projectteam regio', admin: 'beheer' };
	ov.label = function (table, key) { return key ? (table[key] || key.toLowerCase().replace(/_/g, ' ')) : '–'; };

	/* ---- the DOM ---------------------------------------------------------- */

	/* el('td', {cls: 'num', data: {field: 'n'}, text: '3', on: {click: f}, attrs: {title: 'x'}}, child...) */
	ov.el = function (tag, props, ...children) {
		const e = document.createElement(tag);
		ov.props(e, props);
		for (const c of children.flat(Infinity)) {
			if (c === null || c === undefined || c === false) continue;
			e.append(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return e;
	};
	ov.props = function (e, props) {
		if (!props) return e;
		if (props.cls) e.className = props.cls;
		if (props.text !== undefined) e.textContent = String(props.text);
		for (const [k, v] of Object.entries(props.data || {}))
			if (v !== undefined && v !== null) e.dataset[k] = String(v);
		for (const [k, v] of Object.entries(props.attrs || {}))
			if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : String(v));
		for (const [k, v] of Object.entries(props.on || {})) e.addEventListener(k, v);
		return e;
	};
	const SVG = 'http://www.w3.org/2000/svg';
	ov.svg = function (tag, attrs, text) {
		const e = document.createElementNS(SVG, tag);
		for (const [k, v] of Object.entries(attrs || {}))
			if (v !== undefined && v !== null) e.setAttribute(k, String(v));
		if (text !== undefined) e.textContent = String(text);
		return e;
	};
	ov.$ = function (id) { return document.getElementById(id); };
	ov.clear = function (e) { while (e.firstChild) e.firstChild.remove(); return e; };

	/* ---- the API ---------------------------------------------------------- */

	ov.ApiError = class extends Error {
		constructor(status, code, message) { super(message); this.status = status; this.code = code; }
	};
	async function answer(r, path) {
		let doc = null;
		const type = r.headers.get('Content-Type') || '';
		if (type.startsWith('application/json')) doc = await r.json();
		if (!r.ok) {
			throw new ov.ApiError(r.status, doc && doc.code || 'HTTP_' + r.status,
				doc && doc.message || path + ': HTTP ' + r.status);
		}
		return doc;
	}
	ov.get = async function (path) {
		const r = await fetch(path, { cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'application/json' } });
		return answer(r, path);
	};
	ov.post = async function (path, body) {
		const r = await fetch(path, {
			method: 'POST', cache: 'no-store', credentials: 'same-origin',
			headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body)
		});
		return answer(r, path);
	};
	ov.query = function (o) {
		const u = new URLSearchParams();
		for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null) u.set(k, String(v));
		return u.toString();
	};

	/* ---- the page --------------------------------------------------------- */

	/* the daemon's clock (a manual clock in tests and demos), as of whoami */
	ov.now = function () { return ov.who ? ov.who.now + Math.round((Date.now() - ov.whoAt) / 1000) : Math.floor(Date.now() / 1000); };
	ov.stamp = function () { return 'stand ' + ov.dateTime(ov.now()); };

	ov.status = function (text, isError) {
		const s = ov.$('status');
		if (!s) return;
		s.textContent = text;
		s.classList.toggle('error', !!isError);
		if (isError) document.body.dataset.error = text;
		else delete document.body.dataset.error;
	};
	ov.setParam = function (k, v) {
		if (v === '' || v === null || v === undefined) ov.params.delete(k);
		else ov.params.set(k, String(v));
		const q = ov.params.toString();
		history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + location.hash);
	};

	/* Calls init(who) once whoami answered, then marks the body ready for
	 * whoever waits (data-ready="true"), or says what went wrong. */
	ov.start = function (init) {
		document.addEventListener('DOMContentLoaded', async function () {
			try {
				const who = await ov.get('/api/v1/whoami');
				ov.who = who;
				ov.whoAt = Date.now();
				const w = ov.$('who');
				if (w) {
					w.textContent = ov.label(ov.ROLE, who.role) + ' ' + who.organisation;
					w.dataset.role = who.role;
					w.dataset.organisation = who.organisation;
				}
				await init(who);
			} catch (e) {
				ov.status('Fout: ' + e.message, true);
			}
			document.body.dataset.ready = 'true';
		});
	};

	/* A cohort input in the header: ?cohort= or the whoami default. */
	ov.cohortControl = function (who, onChange) {
		let cohort = parseInt(ov.params.get('cohort'), 10) || who.cohort;
		const input = ov.el('input', { cls: 'cohort', attrs: { type: 'number', min: 2000, max: 2200, value: cohort, id: 'cohort' } });
		input.addEventListener('change', function () {
			const v = parseInt(input.value, 10);
			if (!v) return;
			cohort = v;
			ov.setParam('cohort', v);
			onChange(v);
		});
		ov.$('controls').append(ov.el('label', null, 'Cohort', input));
		return cohort;
	};

	/* A group of toggle buttons; returns the chosen value's getter. */
	ov.toggles = function (container, name, options, current, onChange) {
		const buttons = [];
		for (const [value, text] of options) {
			const b = ov.el('button', { text, attrs: { type: 'button', 'aria-pressed': String(value === current) }, data: { [name]: value } });
			b.addEventListener('click', function () {
				for (const o of buttons) o.setAttribute('aria-pressed', String(o === b));
				onChange(value);
			});
			buttons.push(b);
			container.append(b);
		}
		return buttons;
	};

	/* ---- CSV ---------------------------------------------------------------- */

	function csvField(v) {
		if (v === null || v === undefined) return '';
		if (Array.isArray(v)) v = v.map(x => typeof x === 'object' ? JSON.stringify(x) : String(x)).join('|');
		else if (typeof v === 'object') v = JSON.stringify(v);
		v = String(v);
		return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
	}
	/* The API's rows as CSV: its field names as the header, its values as
	 * they came (a point as decimal separator, as the API and overstap-report
	 * --format csv write them); blank where a row says its cells are
	 * suppressed. */
	ov.csv = function (fields, rows, blankWhen) {
		const lines = [fields.map(csvField).join(',')];
		for (const r of rows) lines.push(fields.map(f => csvField(blankWhen && blankWhen(r, f) ? null : r[f])).join(','));
		return lines.join('\r\n') + '\r\n';
	};
	/* A download link whose Blob is made when it is clicked. */
	ov.csvLink = function (name, make) {
		const a = ov.el('a', { cls: 'button', text: 'CSV', attrs: { href: '#', download: name + '.csv', title: 'Deze tabel als CSV (de rijen van de API)' }, data: { csv: name } });
		a.addEventListener('click', function () {
			const { filename, text } = make();
			if (a.dataset.url) URL.revokeObjectURL(a.dataset.url);
			const url = URL.createObjectURL(new Blob(['\ufeff' + text], { type: 'text/csv;charset=utf-8' }));
			a.href = url;
			a.dataset.url = url;
			a.download = filename + '.csv';
		});
		return a;
	};

	/* ---- sortable tables ---------------------------------------------------- */

	/* columns: [{key, label, type: 'text'|'num'|'pct'|'date', value(row), show(row) -> string|Node,
	 *            suppressible, miss(row) -> bool, title}]
	 * Every <tr> has data-key, every <td> data-field and data-value (the raw value),
	 * or data-suppressed="true" (shown as "klein aantal", never as 0). */
	ov.Table = class {
		constructor(opts) {
			this.opts = opts;
			this.columns = opts.columns;
			this.rows = [];
			this.sortKey = opts.sortKey || null;
			this.sortDir = opts.sortDir || 1;
			this.node = ov.el('table', { cls: 'data', data: { table: opts.name } });
			this.head = ov.el('thead');
			this.body = ov.el('tbody');
			this.node.append(this.head, this.body);
			const tr = ov.el('tr');
			for (const c of this.columns) {
				const th = ov.el('th', { cls: c.type === 'num' || c.type === 'pct' ? 'num' : '', data: { sort: c.key }, attrs: { scope: 'col', title: c.title } });
				if (c.sortable === false) th.textContent = c.label;
				else th.append(ov.el('button', { text: c.label, attrs: { type: 'button' }, on: { click: () => this.sortBy(c.key) } }));
				tr.append(th);
			}
			this.head.append(tr);
		}
		value(c, r) { return c.value ? c.value(r) : r[c.key]; }
		suppressed(c, r) { return c.suppressible && r.suppressed; }
		sortBy(key) {
			if (this.sortKey === key) this.sortDir = -this.sortDir;
			else { this.sortKey = key; this.sortDir = 1; }
			this.render();
		}
		set(rows) { this.rows = rows; this.render(); }
		sorted() {
			const c = this.columns.find(x => x.key === this.sortKey);
			if (!c) return this.rows.slice();
			const dir = this.sortDir;
			return this.rows.map((r, i) => [r, i]).sort((a, b) => {
				const sa = this.suppressed(c, a[0]), sb = this.suppressed(c, b[0]);
				if (sa !== sb) return sa ? 1 : -1; /* suppressed last, either way */
				let va = this.value(c, a[0]), vb = this.value(c, b[0]), d;
				if (typeof va === 'number' && typeof vb === 'number') d = va - vb;
				else d = String(va === undefined || va === null ? '' : va).localeCompare(String(vb === undefined || vb === null ? '' : vb), 'nl', { numeric: true });
				return d * dir || a[1] - b[1];
			}).map(x => x[0]);
		}
		render() {
			for (const th of this.head.querySelectorAll('th')) {
				if (th.dataset.sort === this.sortKey) th.setAttribute('aria-sort', this.sortDir > 0 ? 'ascending' : 'descending');
				else th.removeAttribute('aria-sort');
			}
			ov.clear(this.body);
			const rows = this.sorted();
			if (!rows.length) {
				this.body.append(ov.el('tr', { cls: 'none' }, ov.el('td', { cls: 'empty', attrs: { colspan: this.columns.length }, text: this.opts.empty || 'Geen rijen.' })));
			}
			for (const r of rows) this.body.append(this.row(r));
			this.node.dataset.rows = String(rows.length);
			if (this.opts.onRender) this.opts.onRender(this);
		}
		row(r) {
			const o = this.opts;
			const tr = ov.el('tr', { data: { key: o.rowKey(r) }, cls: o.rowClass ? o.rowClass(r) : '' });
			if (o.rowData) ov.props(tr, { data: o.rowData(r) });
			if (o.onRowClick) {
				tr.classList.add('clickable');
				tr.tabIndex = 0;
				tr.addEventListener('click', ev => { if (!ev.target.closest('button, a')) o.onRowClick(r, tr); });
				tr.addEventListener('keydown', ev => { if (ev.key === 'Enter' && ev.target === tr) o.onRowClick(r, tr); });
			}
			for (const c of this.columns) tr.append(this.cell(c, r));
			return tr;
		}
		cell(c, r) {
			const numeric = c.type === 'num' || c.type === 'pct';
			if (this.suppressed(c, r)) {
				return ov.el('td', { cls: 'suppressed', data: { field: c.key, suppressed: 'true' }, attrs: { title: 'minder dan 5 leerlingen: niet getoond' }, text: 'klein aantal' });
			}
			const v = this.value(c, r);
			const td = ov.el('td', { cls: (numeric ? 'num' : c.type === 'date' ? 'date' : '') + (c.cls ? ' ' + c.cls : ''), data: { field: c.key, value: typeof v === 'object' ? JSON.stringify(v) : v } });
			let shown;
			if (c.show) shown = c.show(r);
			else if (c.type === 'num') shown = ov.num(v);
			else if (c.type === 'pct') shown = ov.pct(v);
			else if (c.type === 'date') shown = ov.date(v);
			else shown = v === '' || v === undefined || v === null ? '–' : String(v);
			td.append(shown instanceof Node ? shown : document.createTextNode(shown));
			if (c.miss && c.miss(r)) {
				td.classList.add('miss');
				td.dataset.miss = 'true';
				td.append(ov.el('span', { cls: 'mark', text: '▼', attrs: { title: 'onder het doel' } }));
			}
			return td;
		}
		select(key) {
			for (const tr of this.body.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.key === key);
		}
	};

	/* Loads the pupils of a cohort (GET /api/v1/pupils) into a page's section:
	 * its data-state loading, then ready once show(pupils) has drawn them. */
	ov.loadPupils = async function (section, cohort, show) {
		section.dataset.state = 'loading';
		const doc = await ov.get('/api/v1/pupils?' + ov.query({ cohort }));
		section.dataset.cohort = String(cohort);
		show(doc.pupils);
		section.dataset.state = 'ready';
		ov.status('cohort ' + cohort + (doc.truncated ? ' · lijst ingekort' : '') + ' · ' + ov.stamp());
	};

	/* The columns every list of pupils starts with (the vo and mbo pages). */
	ov.pupilColumns = function () {
		return [
			{ key: 'name', label: 'Naam' },
			{ key: 'pgn', label: 'PGN' },
			{ key: 'birth_date', label: 'Geboren', cls: 'date', show: p => ov.isoToNl(p.birth_date) },
			{ key: 'status', label: 'Status', show: p => ov.el('span', { cls: 'badge status-' + p.status, text: ov.label(ov.STATUS, p.status) }) },
		];
	};

	/* ---- a pupil's timeline ---------------------------------------------------- */

	/* The side panel: GET /api/v1/pupils/PGN?cohort=C, shown in <aside id=detail>. */
	ov.showPupil = async function (pgn, cohort, name, facts) {
		const aside = ov.$('detail');
		const main = aside.closest('main');
		main.classList.add('split');
		aside.classList.remove('hidden');
		aside.dataset.pgn = pgn;
		aside.dataset.state = 'loading';
		ov.clear(aside);
		const close = ov.el('button', { text: 'Sluiten', attrs: { type: 'button' }, on: { click: () => { aside.classList.add('hidden'); main.classList.remove('split'); delete aside.dataset.pgn; } } });
		aside.append(ov.el('h2', null, ov.el('span', { text: name || 'Leerling' }), ov.el('small', { text: pgn }), close));
		try {
			const p = await ov.get('/api/v1/pupils/' + encodeURIComponent(pgn) + '?' + ov.query({ cohort }));
			if (aside.dataset.pgn !== pgn) return; /* another pupil was asked for meanwhile */
			const dl = ov.el('dl');
			const fact = (k, v, field) => dl.append(ov.el('dt', { text: k }), ov.el('dd', { text: v, data: { field } }));
			for (const [k, v, field] of facts || []) fact(k, v, field);
			fact('Status', ov.label(ov.STATUS, p.status), 'status');
			fact('Cohort', String(p.cohort), 'cohort');
			fact('Vo-school', p.vo_school || '–', 'vo_school');
			fact('Woongemeente', p.woongemeente || '–', 'woongemeente');
			fact('Regio', p.region || '–', 'region');
			fact('Open signalen', (p.open_alert_ids || []).length ? p.open_alert_ids.join(', ') : 'geen', 'open_alert_ids');
			const ol = ov.el('ol', { cls: 'timeline', data: { timeline: pgn } });
			for (const ev of p.timeline || []) {
				const what = [ov.label(ov.EVENT, ev.kind)];
				if (ev.school) what.push(ev.school);
				if (ev.crebo) what.push('crebo ' + ev.crebo);
				ol.append(ov.el('li', { data: { kind: ev.kind, at: ev.occurred_at, school: ev.school, crebo: ev.crebo } },
					ov.el('time', { text: ov.date(ev.occurred_at), attrs: { datetime: new Date(ev.occurred_at * 1000).toISOString() } }),
					what.join(' · ')));
			}
			if (!(p.timeline || []).length) ol.append(ov.el('li', { cls: 'empty', text: 'Geen gebeurtenissen.' }));
			aside.append(dl, ov.el('h3', { text: 'Tijdlijn' }), ol);
			aside.dataset.state = 'ready';
		} catch (e) {
			aside.append(ov.el('p', { cls: 'notice', text: 'Tijdlijn niet beschikbaar: ' + e.message }));
			aside.dataset.state = 'error';
		}
	};

	/* ---- the alert worklist (rmc, a vo school's own queue, the projectteam's) ---------- */

	/* Renders GET /api/v1/alerts?state=open|all into `section` with a
	 * toggle, and an "Afgehandeld" button per unacknowledged alert that
	 * POSTs /api/v1/alerts/ack; a row acked in the open view goes, in the
	 * all view it is marked. Rows with a pupil open its timeline.
	 * opts.personal false (the projectteam's: escalations and silent
	 * schools, no personal data): the reason instead of the pupil's columns
	 * (name, PGN, birth date, gemeente, status, mbo). */
	ov.AlertList = class {
		constructor(section, opts) {
			this.section = section;
			this.opts = opts || {};
			const personal = this.opts.personal !== false;
			this.state = ov.params.get('state') === 'all' ? 'all' : 'open';
			const tools = section.querySelector('.tools');
			ov.toggles(tools, 'state', [['open', 'Open'], ['all', 'Alle']], this.state, v => { this.state = v; ov.setParam('state', v === 'all' ? 'all' : ''); this.reload(); });
			tools.append(ov.el('button', { text: 'Vernieuwen', attrs: { type: 'button', title: 'de lijst opnieuw ophalen' }, data: { refresh: 'alerts' }, on: { click: () => this.reload() } }));
			this.summary = ov.el('p', { cls: 'note', data: { summary: 'alerts' } });
			const pupilCols = personal ? [
				{ key: 'name', label: 'Leerling' },
				{ key: 'pgn', label: 'PGN' },
				{ key: 'birth_date', label: 'Geboren', cls: 'date', show: a => ov.isoToNl(a.birth_date) }
			] : [{ key: 'reason', label: 'Reden' }];
			const cols = [
				{ key: 'raised_at', label: 'Gemeld', type: 'date' },
				{ key: 'kind', label: 'Signaal', show: a => this.kindCell(a) },
				...pupilCols,
				{ key: 'vo_school', label: 'Vo-school' },
				...(personal ? [
					{ key: 'woongemeente', label: 'Woongemeente' },
					{ key: 'status_now', label: 'Status nu', show: a => a.status_now ? ov.el('span', { cls: 'badge status-' + a.status_now, text: ov.label(ov.STATUS, a.status_now) }) : '–' },
					{ key: 'mbo_instelling', label: 'Mbo', show: a => [a.mbo_instelling, a.crebo].filter(Boolean).join(' · ') || '–' }
				] : []),
				{ key: 'acked', label: 'Afgehandeld', value: a => a.acked ? 1 : 0, show: a => this.ackCell(a) }
			];
			this.table = new ov.Table({
				name: 'alerts', columns: cols, rowKey: a => a.alert_id, empty: 'Geen signalen.',
				rowClass: a => (a.escalated ? 'escalated' : '') + (a.acked ? ' acked' : ''),
				rowData: a => ({ pgn: a.pgn, kind: a.kind, escalated: a.escalated, acked: a.acked, resolved: a.resolved }),
				onRowClick: (a, tr) => { if (a.pgn) { this.table.select(tr.dataset.key); ov.showPupil(a.pgn, a.cohort, a.name, [['Signaal', ov.label(ov.ALERT, a.kind) + ': ' + a.reason, 'reason']]); } }
			});
			section.append(this.summary, ov.el('div', { cls: 'scroll' }, this.table.node));
		}
		kindCell(a) {
			const span = ov.el('span', { attrs: { title: a.reason } }, ov.el('span', { cls: 'badge alert', text: ov.label(ov.ALERT, a.kind) }));
			if (a.escalated) span.append(' ', ov.el('span', { cls: 'badge esc', text: 'geëscaleerd', data: { escalated: 'true' }, attrs: { title: 'geëscaleerd naar het projectteam op ' + ov.date(a.escalated_at) } }));
			if (a.resolved) span.append(' ', ov.el('span', { cls: 'badge ok', text: 'opgelost', attrs: { title: 'opgelost op ' + ov.date(a.resolved_at) } }));
			return span;
		}
		ackCell(a) {
			if (a.acked) return ov.el('span', { text: 'afgehandeld ' + ov.date(a.acked_at), data: { ackedAt: a.acked_at } });
			return ov.el('button', { cls: 'primary', text: 'Afgehandeld', attrs: { type: 'button' }, data: { ack: a.alert_id }, on: { click: ev => this.ack(a, ev.target) } });
		}
		async reload() {
			try {
				await this.load();
				ov.status(ov.stamp());
			} catch (e) {
				this.section.dataset.state = 'error';
				ov.status('Signalen niet geladen: ' + e.message, true);
			}
		}
		async load() {
			this.section.dataset.state = 'loading';
			const doc = await ov.get('/api/v1/alerts?' + ov.query({ state: this.state }));
			this.alerts = doc.alerts;
			this.section.dataset.alertState = this.state;
			this.table.set(this.alerts);
			this.summarize(doc.truncated);
			this.section.dataset.state = 'ready';
		}
		summarize(truncated) {
			const open = this.alerts.filter(a => !a.acked);
			const esc = open.filter(a => a.escalated).length;
			this.summary.textContent = (this.state === 'open' ? open.length + ' open signalen' : this.alerts.length + ' signalen, waarvan ' + open.length + ' open') +
				(esc ? ', ' + esc + ' geëscaleerd' : '') + ' · nieuwste eerst' + (truncated ? ' · lijst ingekort' : '');
			this.summary.dataset.open = String(open.length);
			this.summary.dataset.escalated = String(esc);
		}
		async ack(a, button) {
			button.disabled = true;
			try {
				const doc = await ov.post('/api/v1/alerts/ack', { alert_ids: [a.alert_id] });
				const now = ov.now();
				a.acked = true;
				a.acked_at = a.acked_at || now;
				if (this.state === 'open') this.alerts = this.alerts.filter(x => x !== a);
				this.table.set(this.alerts);
				this.summarize(false);
				const tr = this.table.body.querySelector('tr[data-key="' + a.alert_id + '"]');
				if (tr) tr.dataset.ackResult = doc.alert_ids.includes(a.alert_id) ? 'acked' : 'already';
				this.section.dataset.lastAck = String(a.alert_id);
				this.section.dataset.lastAckResult = doc.alert_ids.includes(a.alert_id) ? 'acked' : 'already';
				ov.status(doc.alert_ids.includes(a.alert_id) ? 'Signaal ' + a.alert_id + ' afgehandeld' : 'Signaal ' + a.alert_id + ' was al afgehandeld');
			} catch (e) {
				button.disabled = false;
				ov.status('Afhandelen mislukt: ' + e.message, true);
			}
		}
	};

	return ov;
})();
