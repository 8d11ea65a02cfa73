/* sqlcodes.h — the numbers of the C enums, by name, for the SQL text.
 *
 * Statements and migrations never write an alert kind, a status or an event
 * kind as a bare number: they write @ALERT_ZOMERLEK@, @STATUS_AANGEMELD@,
 * @EVENT_OVERSTAPPER_GEREGISTREERD@, @RECIPIENT_RMC@, and the store expands
 * them from the enums themselves (overstap.h, rules.h) when it prepares a
 * statement or applies a migration. Renumbering an enum cannot silently
 * diverge from the SQL; and the database remembers the numbers its rows were
 * written with (table code_value, sql/003), so a binary whose numbers differ
 * refuses to start.
 */
#ifndef OVERSTAP_SQLCODES_H
#define OVERSTAP_SQLCODES_H

#include <stddef.h>

struct sql_code {
	const char *name;
	int value;
};

/* Every code the SQL may name. */
const struct sql_code *sqlcodes_all(size_t *n);
/* sql with every @NAME@ replaced by its number: malloc'd, caller frees.
 * NULL when a token names no code (bad is set to it) or out of memory. */
char *sqlcodes_expand(const char *sql, char *bad, size_t badlen);

#endif
