'use strict';
/* vo.js — the decaan's page: the school's own pupils of a cohort (GET
 * /api/v1/pupils) with status, keuze, applications per instelling, ddd and
 * open alerts; filters "nog niets" (no keuze and no application) and "niet
 * geplaatst"; a row opens the timeline; below, the school's own alerts. */
const PLACED = ['GEPLAATST', 'INGESCHREVEN', 'ANDERE_BESTEMMING'];
const FILTERS = {
	alle: () => true,
	niets: p => !p.keuze && !(p.applications || []).length,
	niet_geplaatst: p => !PLACED.includes(p.status)
};

function applications(p) {
	const apps = p.applications || [];
	if (!apps.length) return '–';
	return ov.el('ul', null, apps.map(a => ov.el('li', { data: { instelling: a.mbo_instelling, crebo: a.crebo, status: a.status, niveau: a.niveau } },
		[a.mbo_instelling, a.crebo, a.niveau ? 'niveau ' + a.niveau : '', ov.label(ov.EVENT, a.status)].filter(Boolean).join(' · '))));
}

function keuze(p) {
	const k = p.keuze;
	if (!k) return '–';
	const parts = [ov.label(ov.BESTEMMING, k.bestemming)];
	if (k.mbo_instelling) parts.push(k.mbo_instelling);
	if (k.crebo) parts.push(k.crebo);
	return ov.el('span', { data: { bestemming: k.bestemming, instelling: k.mbo_instelling, crebo: k.crebo } }, parts.join(' · '));
}

function openAlerts(p) {
	const a = p.open_alerts || [];
	if (!a.length) return '–';
	return ov.el('span', null, a.map(k => [ov.el('span', { cls: 'badge alert', text: ov.label(ov.ALERT, k), data: { alert: k } }), ' ']));
}

ov.start(async function (who) {
	let cohort = ov.cohortControl(who, c => { cohort = c; load().catch(e => ov.status('Niet geladen: ' + e.message, true)); });
	let filter = FILTERS[ov.params.get('filter')] ? ov.params.get('filter') : 'alle';
	let search = '';
	let pupils = [];
	const section = ov.$('pupils');
	const bar = ov.el('div', { cls: 'filters' });
	const counts = ov.el('span', { cls: 'note', data: { summary: 'pupils' } });
	ov.toggles(bar, 'filter', [['alle', 'Alle'], ['niets', 'Nog niets'], ['niet_geplaatst', 'Niet geplaatst']], filter, v => { filter = v; ov.setParam('filter', v === 'alle' ? '' : v); show(); });
	const find = ov.el('input', { attrs: { type: 'search', placeholder: 'zoek naam of PGN', 'aria-label': 'zoek naam of PGN' } });
	find.addEventListener('input', () => { search = find.value.trim().toLowerCase(); show(); });
	bar.append(find, counts);
	const table = new ov.Table({
		name: 'pupils', rowKey: p => p.pgn, sortKey: 'name', empty: 'Geen leerlingen in deze selectie.',
		rowData: p => ({ status: p.status }),
		onRowClick: (p, tr) => { table.select(tr.dataset.key); ov.showPupil(p.pgn, cohort, p.name); },
		columns: [
			...ov.pupilColumns(),
			{ key: 'keuze', label: 'Keuze', cls: 'date', value: p => p.keuze ? [p.keuze.bestemming, p.keuze.mbo_instelling, p.keuze.crebo].join(' ') : '', show: keuze },
			{ key: 'applications', label: 'Aanmeldingen (instelling · crebo · stand)', value: p => (p.applications || []).length, show: applications },
			{ key: 'has_ddd', label: 'Ddd', title: 'doorstroomdossier aangeleverd', value: p => p.has_ddd ? 1 : 0, show: p => p.has_ddd ? 'ja' : 'nee' },
			{ key: 'open_alerts', label: 'Open signalen', value: p => (p.open_alerts || []).join(' '), show: openAlerts },
			{ key: 'last_event', label: 'Laatste gebeurtenis', value: p => p.last_event ? p.last_event.occurred_at : 0,
				show: p => p.last_event && p.last_event.kind ? ov.label(ov.EVENT, p.last_event.kind) + ', ' + ov.date(p.last_event.occurred_at) : '–' }
		]
	});
	section.querySelector('.tools').append(ov.csvLink('leerlingen', () => ({
		filename: 'leerlingen-' + who.organisation + '-' + cohort,
		text: ov.csv(['pgn', 'name', 'birth_date', 'status', 'has_ddd', 'open_alerts', 'woongemeente', 'vo_school', 'last_event', 'applications', 'keuze'], pupils)
	})));
	section.append(bar, ov.el('div', { cls: 'scroll' }, table.node));

	function show() {
		const rows = pupils.filter(FILTERS[filter]).filter(p => !search || (p.name || '').toLowerCase().includes(search) || p.pgn.includes(search));
		table.set(rows);
		section.dataset.filter = filter;
		counts.textContent = rows.length + ' van ' + pupils.length + ' leerlingen · nog niets: ' + pupils.filter(FILTERS.niets).length +
			' · niet geplaatst: ' + pupils.filter(FILTERS.niet_geplaatst).length;
	}
	async function load() {
		await ov.loadPupils(section, cohort, list => { pupils = list; show(); });
	}
	const alerts = new ov.AlertList(ov.$('worklist'));
	await Promise.all([load(), alerts.load()]);
});
