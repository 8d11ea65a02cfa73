'use strict';
/* mbo.js — an mbo institution's applicants of a cohort (GET /api/v1/pupils:
 * only its own applications), with their status; a row opens the timeline. */
const PLACED = ['GEPLAATST', 'INGESCHREVEN', 'ANDERE_BESTEMMING'];

ov.start(async function (who) {
	let cohort = ov.cohortControl(who, c => { cohort = c; load().catch(e => ov.status('Niet geladen: ' + e.message, true)); });
	let filter = ov.params.get('filter') === 'niet_geplaatst' ? 'niet_geplaatst' : 'alle';
	let pupils = [];
	const section = ov.$('pupils');
	const bar = ov.el('div', { cls: 'filters' });
	const counts = ov.el('span', { cls: 'note', data: { summary: 'pupils' } });
	ov.toggles(bar, 'filter', [['alle', 'Alle'], ['niet_geplaatst', 'Niet geplaatst']], filter, v => { filter = v; ov.setParam('filter', v === 'alle' ? '' : v); show(); });
	bar.append(counts);
	const table = new ov.Table({
		name: 'pupils', rowKey: p => p.pgn, sortKey: 'name', empty: 'Geen aanmelders in deze selectie.',
		rowData: p => ({ status: p.status }),
		onRowClick: (p, tr) => { table.select(tr.dataset.key); ov.showPupil(p.pgn, cohort, p.name); },
		columns: [
			...ov.pupilColumns(),
			{ key: 'applications', label: 'Aanmelding bij ons (crebo · niveau · stand)', value: p => (p.applications || []).map(a => a.crebo).join(' '),
				show: p => (p.applications || []).length ? ov.el('ul', null, p.applications.map(a => ov.el('li', { data: { instelling: a.mbo_instelling, crebo: a.crebo, status: a.status, niveau: a.niveau } },
					[a.crebo, a.niveau ? 'niveau ' + a.niveau : '', ov.label(ov.EVENT, a.status)].filter(Boolean).join(' · ')))) : '–' },
			{ key: 'vo_school', label: 'Vo-school' },
			{ key: 'woongemeente', label: 'Woongemeente' },
			{ key: 'has_ddd', label: 'Ddd', title: 'doorstroomdossier aangeleverd', value: p => p.has_ddd ? 1 : 0, show: p => p.has_ddd ? 'ja' : 'nee' },
			{ key: 'last_event', label: 'Laatste gebeurtenis', value: p => p.last_event ? p.last_event.occurred_at : 0,
				show: p => p.last_event && p.last_event.kind ? ov.label(ov.EVENT, p.last_event.kind) + ', ' + ov.date(p.last_event.occurred_at) : '–' }
		]
	});
	section.querySelector('.tools').append(ov.csvLink('aanmelders', () => ({
		filename: 'aanmelders-' + who.organisation + '-' + cohort,
		text: ov.csv(['pgn', 'name', 'birth_date', 'status', 'has_ddd', 'open_alerts', 'woongemeente', 'vo_school', 'last_event', 'applications'], pupils)
	})));
	section.append(bar, ov.el('div', { cls: 'scroll' }, table.node));

	function show() {
		const rows = filter === 'alle' ? pupils : pupils.filter(p => !PLACED.includes(p.status));
		table.set(rows);
		section.dataset.filter = filter;
		counts.textContent = rows.length + ' van ' + pupils.length + ' aanmelders';
	}
	async function load() {
		await ov.loadPupils(section, cohort, list => { pupils = list; show(); });
	}
	await load();
});
