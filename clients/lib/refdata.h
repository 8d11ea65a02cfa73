/* refdata.h — the reference data files of DESIGN §6: RMC regions (`code;naam`)
 * and DUO's "hoofdvestigingen vo" (`;`-separated, columns BRIN NUMMER,
 * INSTELLINGSNAAM, GEMEENTENUMMER, GEMEENTENAAM, RMC-REGIO CODE, and optional
 * RMC-REGIO NAAM, ONDERWIJSSTRUCTUUR, in any order among others).
 *
 * Parsing only, no database: overstapctl writes the result. Files may be
 * UTF-8 (with or without BOM) or Windows-1252, as DUO publishes them. Strict:
 * every bad row is reported with its line; callers write nothing then.
 */
#ifndef OVERSTAP_REFDATA_H
#define OVERSTAP_REFDATA_H

#include <stdbool.h>
#include <stddef.h>

#define REFDATA_MAX_ERRORS 100

struct ref_region {
	char code[3]; /* "39" */
	char *naam;
};

struct ref_gemeente {
	char code[7];   /* "GM0106" */
	char *naam;
	char region[3]; /* "" when the file gives none */
	unsigned long line;
};

struct ref_school {
	char code[7]; /* BRIN + vestiging "00" */
	char brin[5];
	char *naam;
	char gemeente[7];
	char *structuur;
};

struct refdata {
	struct ref_region *regions;
	size_t n_regions;
	struct ref_gemeente *gemeenten;
	size_t n_gemeenten;
	struct ref_school *schools;
	size_t n_schools;
	struct {
		unsigned long line;
		char message[200];
	} errors[REFDATA_MAX_ERRORS];
	size_t n_errors, total_errors;
	bool converted; /* the bytes were Windows-1252 */
};

void refdata_init(struct refdata *r);
void refdata_free(struct refdata *r);

/* Parse a file's bytes; true when there is no error. */
bool refdata_parse_regions(struct refdata *r, const char *data, size_t len);
bool refdata_parse_duo_vo(struct refdata *r, const char *data, size_t len);

/* "07", "7", "MC07" → "07"; false unless 01..99. */
bool refdata_region_code(const char *s, char out[3]);
/* "0106", "106", "GM0106" → "GM0106". */
bool refdata_gemeente_code(const char *s, char out[7]);

#endif
