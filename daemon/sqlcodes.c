/* sqlcodes.c — the table of codes the SQL may name (sqlcodes.h).
 *
 * Each row takes its number from the enum itself: CODE(x) is { "x", x }. A
 * code missing here, or misspelt in a statement, is an unknown token: the
 * store refuses it at start-up. Callers: store (statements, migrations).
 */
#include "sqlcodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overstap.h"
#include "rules.h"

#define CODE(x) { #x, x }

static const struct sql_code CODES[] = {
	CODE(EVENT_OVERSTAPPER_GEREGISTREERD),
	CODE(EVENT_KEUZE_GEREGISTREERD),
	CODE(EVENT_DDD_AANGELEVERD),
	CODE(EVENT_DIPLOMA_BEHAALD),
	CODE(EVENT_NIET_GESLAAGD),
	CODE(EVENT_VO_UITGESCHREVEN),
	CODE(EVENT_AANMELDING_ONTVANGEN),
	CODE(EVENT_AANGEMELD),
	CODE(EVENT_OVEREENKOMST_AANGEBODEN),
	CODE(EVENT_LEIDT_NIET_TOT_INSCHRIJVING),
	CODE(EVENT_INGETROKKEN),
	CODE(EVENT_INGESCHREVEN),
	CODE(EVENT_NIET_GESTART),
	CODE(EVENT_MBO_UITGESCHREVEN),
	CODE(STATUS_GEEN_KEUZE),
	CODE(STATUS_KEUZE),
	CODE(STATUS_AANGEMELD),
	CODE(STATUS_GEPLAATST),
	CODE(STATUS_INGESCHREVEN),
	CODE(STATUS_ANDERE_BESTEMMING),
	CODE(STATUS_ZONDER_PLEK),
	CODE(STATUS_NIET_GESTART),
	CODE(STATUS_BLIJFT_IN_VO),
	CODE(ALERT_ZOMERLEK),
	CODE(ALERT_NIET_GESTART),
	CODE(ALERT_GEEN_AANMELDING),
	CODE(ALERT_ESCALATIE),
	CODE(ALERT_OPGELOST),
	CODE(ALERT_SCHOOL_STIL),
	CODE(RECIPIENT_RMC),
	CODE(RECIPIENT_VO),
	CODE(RECIPIENT_PROJECTTEAM),
};

const struct sql_code *sqlcodes_all(size_t *n)
{
	*n = sizeof CODES / sizeof CODES[0];
	return CODES;
}

static const struct sql_code *find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof CODES / sizeof CODES[0]; i++)
		if (strlen(CODES[i].name) == len && memcmp(CODES[i].name, name, len) == 0)
			return &CODES[i];
	return NULL;
}

static bool is_token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

char *sqlcodes_expand(const char *sql, char *bad, size_t badlen)
{
	size_t len = strlen(sql);
	char *out = malloc(len + 1); /* a number is never longer than its @NAME@ */
	if (!out) {
		snprintf(bad, badlen, "out of memory");
		return NULL;
	}
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		if (sql[i] == '@') {
			size_t j = i + 1;
			while (j < len && is_token_char(sql[j]))
				j++;
			if (j < len && sql[j] == '@' && j > i + 1) {
				const struct sql_code *c = find(sql + i + 1, j - i - 1);
				if (!c) {
					snprintf(bad, badlen, "%.*s", (int)(j - i + 1), sql + i);
					free(out);
					return NULL;
				}
				o += (size_t)snprintf(out + o, len + 1 - o, "%d", c->value);
				i = j + 1;
				continue;
			}
		}
		out[o++] = sql[i++];
	}
	out[o] = '\0';
	return out;
}
