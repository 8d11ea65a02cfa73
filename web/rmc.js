'use strict';
/* rmc.js — the RMC's worklist: the region's alerts, newest first (open, or
 * all), with the pupil, school and status now; a row opens the pupil's
 * timeline, "Afgehandeld" acknowledges (POST /api/v1/alerts/ack). */
ov.start(async function (who) {
	const list = new ov.AlertList(ov.$('worklist'));
	await list.load();
	ov.status(ov.stamp());
});
