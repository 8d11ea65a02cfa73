"""schoolyear.py — a scripted school year of overstappers, with the outcome
expected of it, written independently of the daemon.

Pure Python, no I/O: the integration tests (tracking, alerts, statistics) and
`make demo` push its events through the real clients and compare what the
daemon says with what this module predicts.

A year for cohort C is played in four phases; before each phase the clock is
set to the phase's moment, and the events of the phase (all dated before it)
are pushed. Deadlines (00:00 Europe/Amsterdam, i.e. 22:00 UTC the day before in
summer time) fall between the phases:

    P1  clock C-03-31 12:00Z  registrations, keuzes, applications
        -- aanmelddatum C-04-01: GEEN_AANMELDING
    P2  clock C-07-31 12:00Z  late applications, placements, diplomas, withdrawals
        -- zomer C-08-01: ZOMERLEK
    P3  clock C-09-30 12:00Z  enrolments, no-show reports, late enrolments
        -- teldatum C-10-01: NIET_GESTART
    P4  clock C-11-30 12:00Z  enrolments after the teldatum
    END clock C-12-10 12:00Z  escalations of what was left unacked

Each scenario below states its events, its final status and the alerts it
must raise (kind, recipient class, phase raised, resolved or not), following
DESIGN §5 and §5.1. `status_of()` is a second, rule-by-rule reading of §5 that
the tests use to count statistics from the pushed events at any moment.
"""

import datetime as _dt
import random as _random

# wire numbers (DESIGN §4.2)
KIND = {
    'OVERSTAPPER_GEREGISTREERD': 1, 'KEUZE_GEREGISTREERD': 2, 'DDD_AANGELEVERD': 3,
    'DIPLOMA_BEHAALD': 4, 'NIET_GESLAAGD': 5, 'VO_UITGESCHREVEN': 6,
    'AANMELDING_ONTVANGEN': 10, 'AANGEMELD': 11, 'OVEREENKOMST_AANGEBODEN': 12,
    'LEIDT_NIET_TOT_INSCHRIJVING': 13, 'INGETROKKEN': 14, 'INGESCHREVEN': 15,
    'NIET_GESTART': 16, 'MBO_UITGESCHREVEN': 17,
}
STATUS = {
    'GEEN_KEUZE': 1, 'KEUZE': 2, 'AANGEMELD': 3, 'GEPLAATST': 4, 'INGESCHREVEN': 5,
    'ANDERE_BESTEMMING': 6, 'ZONDER_PLEK': 7, 'NIET_GESTART': 8, 'BLIJFT_IN_VO': 9,
}
STATUS_NAME = {v: k for k, v in STATUS.items()}
ALERT = {'ZOMERLEK': 1, 'NIET_GESTART': 2, 'GEEN_AANMELDING': 3, 'ESCALATIE': 4, 'OPGELOST': 5}

PHASES = ('P1', 'P2', 'P3', 'P4')


def utc(y, m, d, hh=12, mm=0):
    return int(_dt.datetime(y, m, d, hh, mm, tzinfo=_dt.timezone.utc).timestamp())


def amsterdam_midnight(y, m, d):
    """00:00 Europe/Amsterdam as unix time, by the EU summer-time rule."""
    def last_sunday(month):
        day = _dt.date(y, month, 31)
        return day - _dt.timedelta(days=(day.weekday() + 1) % 7)
    t = utc(y, m, d, 0) - 3600
    start = utc(y, 3, last_sunday(3).day, 1)
    end = utc(y, 10, last_sunday(10).day, 1)
    if start <= t < end:
        t -= 3600
    return t


def clock_of(cohort):
    c = cohort
    return {'START': utc(c - 1, 9, 1, 0), 'P1': utc(c, 3, 31), 'P2': utc(c, 7, 31),
            'P3': utc(c, 9, 30), 'P4': utc(c, 11, 30), 'END': utc(c, 12, 10)}


def deadlines_of(cohort):
    return {'aanmelddatum': amsterdam_midnight(cohort, 4, 1),
            'zomer': amsterdam_midnight(cohort, 8, 1),
            'teldatum': amsterdam_midnight(cohort, 10, 1)}


def iso(t):
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


# ---- scenarios -----------------------------------------------------------------
# An event: (phase, month, day, sender, kind, extra). sender 'vo' is the pupil's
# school; 'M1'/'M2' the first and second mbo institution. Month/day are in the
# cohort year, except registrations, dated October of the year before.
# Alerts: (kind, recipient class 'rmc'|'vo', phase raised, resolved at phase or None).

def _ev(phase, m, d, sender, kind, **extra):
    return (phase, m, d, sender, kind, extra)


KEUZE_MBO = dict(bestemming='MBO', crebo='25180', niveau=4, leerweg='BOL')

SCENARIOS = {
    # the common case: applied on time, placed, diploma, enrolled
    'geplaatst': dict(weight=62, status='INGESCHREVEN', ddd=True, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P2', 5, 1, 'M1', 'OVEREENKOMST_AANGEBODEN', crebo='25180'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD'),
        _ev('P3', 8, 20, 'M1', 'INGESCHREVEN', crebo='25180')], alerts=[]),
    # two applications at once, one withdrawn
    'twee_aanmeldingen': dict(weight=6, status='INGESCHREVEN', ddd=True, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P1', 3, 5, 'M2', 'AANMELDING_ONTVANGEN', crebo='25604'),
        _ev('P2', 5, 10, 'M2', 'INGETROKKEN', crebo='25604'),
        _ev('P2', 5, 20, 'M1', 'OVEREENKOMST_AANGEBODEN', crebo='25180'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD'),
        _ev('P3', 8, 20, 'M1', 'INGESCHREVEN', crebo='25180')], alerts=[]),
    # withdrawn in March, applied elsewhere
    'ingetrokken_nieuw': dict(weight=4, status='INGESCHREVEN', ddd=True, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P1', 3, 10, 'M1', 'INGETROKKEN', crebo='25180'),
        _ev('P1', 3, 20, 'M2', 'AANGEMELD', crebo='25604'),
        _ev('P2', 6, 1, 'M2', 'OVEREENKOMST_AANGEBODEN', crebo='25604'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD'),
        _ev('P3', 8, 25, 'M2', 'INGESCHREVEN', crebo='25604')], alerts=[]),
    # rejected after the diploma: zomerlek in real time
    'afgewezen': dict(weight=3, status='ZONDER_PLEK', ddd=False, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD'),
        _ev('P2', 7, 10, 'M1', 'LEIDT_NIET_TOT_INSCHRIJVING', crebo='25180', reason='niet toelaatbaar')],
        alerts=[('ZOMERLEK', 'rmc', 'P2', None), ('ZOMERLEK', 'vo', 'P2', None)]),
    # no keuze at all, left with a diploma: GEEN_AANMELDING, then zomerlek at the sweep
    'geen_keuze': dict(weight=3, status='GEEN_KEUZE', ddd=False, events=[
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD')],
        alerts=[('GEEN_AANMELDING', 'vo', 'aanmelddatum', None),
                ('ZOMERLEK', 'rmc', 'zomer', None), ('ZOMERLEK', 'vo', 'zomer', None)]),
    # keuze mbo, never applied, left school
    'keuze_zonder_aanmelding': dict(weight=3, status='KEUZE', ddd=False, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P2', 7, 1, 'vo', 'VO_UITGESCHREVEN', reason='verhuisd')],
        alerts=[('GEEN_AANMELDING', 'vo', 'aanmelddatum', None),
                ('ZOMERLEK', 'rmc', 'zomer', None), ('ZOMERLEK', 'vo', 'zomer', None)]),
    # applied after the aanmelddatum, enrolled after all: the vo alert is resolved
    'te_laat_aangemeld': dict(weight=4, status='INGESCHREVEN', ddd=True, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P2', 5, 10, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P2', 6, 10, 'M1', 'OVEREENKOMST_AANGEBODEN', crebo='25180'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD'),
        _ev('P3', 8, 20, 'M1', 'INGESCHREVEN', crebo='25180')],
        alerts=[('GEEN_AANMELDING', 'vo', 'aanmelddatum', 'P3')]),
    # enrolled, then reported as not started
    'niet_gestart_gemeld': dict(weight=2, status='NIET_GESTART', ddd=True, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P2', 5, 1, 'M1', 'OVEREENKOMST_AANGEBODEN', crebo='25180'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD'),
        _ev('P3', 8, 20, 'M1', 'INGESCHREVEN', crebo='25180'),
        _ev('P3', 9, 10, 'M1', 'NIET_GESTART', crebo='25180', reason='niet verschenen')],
        alerts=[('NIET_GESTART', 'rmc', 'P3', None), ('NIET_GESTART', 'vo', 'P3', None)]),
    # placed, never enrolled: niet-gestart at the teldatum
    'niet_gestart_teldatum': dict(weight=2, status='NIET_GESTART', ddd=True, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P2', 5, 1, 'M1', 'OVEREENKOMST_AANGEBODEN', crebo='25180'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD')],
        alerts=[('NIET_GESTART', 'rmc', 'teldatum', None), ('NIET_GESTART', 'vo', 'teldatum', None)]),
    # withdrew in July (zomerlek), enrolled elsewhere in September: OPGELOST
    'zomerlek_opgelost': dict(weight=3, status='INGESCHREVEN', ddd=True, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD'),
        _ev('P2', 7, 5, 'M1', 'INGETROKKEN', crebo='25180'),
        _ev('P3', 8, 25, 'M2', 'AANGEMELD', crebo='25604'),
        _ev('P3', 9, 5, 'M2', 'INGESCHREVEN', crebo='25604')],
        alerts=[('ZOMERLEK', 'rmc', 'P2', 'P3'), ('ZOMERLEK', 'vo', 'P2', 'P3')]),
    # failed the exam, passed the re-sit, enrolled
    'herexamen': dict(weight=3, status='INGESCHREVEN', ddd=True, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P2', 5, 1, 'M1', 'OVEREENKOMST_AANGEBODEN', crebo='25180'),
        _ev('P2', 6, 15, 'vo', 'NIET_GESLAAGD'),
        _ev('P2', 7, 5, 'vo', 'DIPLOMA_BEHAALD'),
        _ev('P3', 8, 20, 'M1', 'INGESCHREVEN', crebo='25180')], alerts=[]),
    # failed, stays at school
    'blijft_in_vo': dict(weight=2, status='BLIJFT_IN_VO', ddd=False, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P2', 6, 15, 'vo', 'NIET_GESLAAGD')],
        alerts=[('GEEN_AANMELDING', 'vo', 'aanmelddatum', None)]),
    # havo after vmbo: andere bestemming, never an alert
    'andere_bestemming': dict(weight=4, status='ANDERE_BESTEMMING', ddd=False, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', bestemming='HAVO'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD')], alerts=[]),
    # niet-gestart at the teldatum, enrolled in October: OPGELOST
    'niet_gestart_opgelost': dict(weight=2, status='INGESCHREVEN', ddd=True, events=[
        _ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **KEUZE_MBO),
        _ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P2', 5, 1, 'M1', 'OVEREENKOMST_AANGEBODEN', crebo='25180'),
        _ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD'),
        _ev('P4', 10, 15, 'M1', 'INGESCHREVEN', crebo='25180')],
        alerts=[('NIET_GESTART', 'rmc', 'teldatum', 'P4'), ('NIET_GESTART', 'vo', 'teldatum', 'P4')]),
    # only an mbo knows this pupil (herkomst unknown): tracked, counted apart
    'alleen_mbo': dict(weight=2, status='INGESCHREVEN', ddd=False, registered=False, events=[
        _ev('P1', 3, 10, 'M1', 'AANGEMELD', crebo='25180'),
        _ev('P3', 8, 20, 'M1', 'INGESCHREVEN', crebo='25180')], alerts=[]),
}

FIRST = ['Daan', 'Sem', 'Lucas', 'Milan', 'Levi', 'Noah', 'Finn', 'Liam', 'Emma', 'Julia', 'Mila',
         'Tess', 'Sophie', 'Zoë', 'Sara', 'Nora', 'Yara', 'Eva', 'Fenna', 'Lotte', 'Anouk', 'Mohammed',
         'Ayoub', 'Fatima', 'Sanne', 'Bram', 'Thijs', 'Jesse', 'Ruben', 'Iris']
LAST = ['de Jong', 'Jansen', 'de Vries', 'van den Berg', 'van Dijk', 'Bakker', 'Janssen', 'Visser',
        'Smit', 'Meijer', 'de Boer', 'Mulder', 'de Groot', 'Bos', 'Vos', 'Peters', 'Hendriks',
        'van Leeuwen', 'Dekker', 'Brouwer', 'Wijnands', 'Schreurs', 'Claessens', 'Hermans',
        'Lemmens', 'Ramakers', 'Çelik', 'El Amrani']
VO_SOORTEN = ['VMBO_BB', 'VMBO_KB', 'VMBO_GL', 'VMBO_TL']


def bsn(rng, used):
    """A fresh 9-digit number that passes the BSN 11-test."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        s = sum((9 - i) * d for i, d in enumerate(digits)) % 11
        if s == 10:
            continue
        n = ''.join(map(str, digits)) + str(s)
        if n not in used and not n.startswith('10'):
            used.add(n)
            return n


class Pupil:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return f'Pupil({self.pgn} {self.scenario} {self.school})'


class SchoolYear:
    """schools: [(code, gemeente, region)]; mbo: two institution BRINs;
    elsewhere: {region: a gemeente in it}, for pupils living
    outside their school's region (about one in 25)."""

    def __init__(self, cohort, schools, mbo=('25LP', '25LQ'), pupils=200, seed=1, elsewhere=None,
                 weights=None):
        self.cohort = cohort
        self.schools = list(schools)
        self.mbo = mbo
        self.clock = clock_of(cohort)
        self.deadlines = deadlines_of(cohort)
        rng = _random.Random(seed)
        used = set()
        names = list(SCENARIOS)
        w = [(weights or {}).get(n, SCENARIOS[n]['weight']) for n in names]
        # every scenario at least once per school region, the rest by weight
        regions = sorted({s[2] for s in self.schools})
        plan = [(n, r) for r in regions for n in names]
        while len(plan) < pupils:
            plan.append((rng.choices(names, w)[0], None))
        plan = plan[:max(pupils, len(plan))]
        self.pupils = []
        for i, (scen, region) in enumerate(plan):
            pool = [s for s in self.schools if region is None or s[2] == region]
            code, gemeente, sregion = pool[rng.randrange(len(pool))]
            home, hregion = gemeente, sregion
            if elsewhere and i % 25 == 7:
                other = [(g, r) for r, g in elsewhere.items() if r != sregion]
                if other:
                    home, hregion = other[0]
            sc = SCENARIOS[scen]
            p = Pupil(pgn=bsn(rng, used), scenario=scen, school=code, school_region=sregion,
                      gemeente=gemeente, woongemeente=home, home_region=hregion,
                      registered=sc.get('registered', True),
                      name=f'{rng.choice(FIRST)} {rng.choice(LAST)}',
                      birth_date=f'{cohort - 17}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}',
                      vo_soort=rng.choice(VO_SOORTEN), ddd=sc['ddd'] and i % 10 != 3,
                      final_status=sc['status'], index=i)
            p.events = self._events(p, sc)
            self.pupils.append(p)

    # ---- events ---------------------------------------------------------------
    def _events(self, p, sc):
        c = self.cohort
        out = []
        n = 0

        def add(phase, t, sender, kind, extra):
            nonlocal n
            n += 1
            org = p.school if sender == 'vo' else self.mbo[0 if sender == 'M1' else 1]
            row = {'event_id': f'{c}-{p.pgn}-{n}', 'pgn': p.pgn, 'occurred_at': t, 'kind': kind,
                   'cohort': c, 'school': org}
            for k, v in extra.items():
                if k == 'mbo':
                    row['mbo_instelling'] = self.mbo[0 if v == 'M1' else 1]
                else:
                    row[k] = v
            if sender != 'vo' and not p.registered:
                row['woongemeente'] = p.woongemeente
            out.append((phase, org, row))

        if p.registered:
            add('P1', utc(c - 1, 10, 1 + p.index % 28, 9), 'vo', 'OVERSTAPPER_GEREGISTREERD',
                dict(name=p.name, birth_date=p.birth_date, woongemeente=p.woongemeente,
                     vo_soort=p.vo_soort))
        for phase, m, d, sender, kind, extra in sc['events']:
            add(phase, utc(c, m, d, 10), sender, kind, extra)
        if p.ddd:
            add('P2', utc(c, 5, 15, 11), 'vo', 'DDD_AANGELEVERD', {})
        return out

    def events(self, phase=None, org=None):
        """[(org, row)] of one phase (or all), vo schools' before the mbo's."""
        rows = [(o, r) for p in self.pupils for ph, o, r in p.events
                if (phase is None or ph == phase) and (org is None or o == org)]
        return sorted(rows, key=lambda x: (x[0] in self.mbo, x[0]))

    def senders(self, phase=None):
        seen = []
        for o, _ in self.events(phase):
            if o not in seen:
                seen.append(o)
        return seen

    # ---- expected outcome ------------------------------------------------------
    def expected_alerts(self, upto='END', acking_regions=()):
        """Multiset {(pgn or '', kind, recipient): count} of every alert raised
        by the end of phase `upto`; RMC alerts of regions not in acking_regions
        stay unacked, so those not resolved within 7 days escalate to the
        projectteam (ESCALATIE carries no PGN)."""
        order = ['P1', 'aanmelddatum', 'P2', 'zomer', 'P3', 'teldatum', 'P4', 'END']
        stop = order.index(upto)
        out = {}

        def put(key):
            out[key] = out.get(key, 0) + 1

        for p in self.pupils:
            sc = SCENARIOS[p.scenario]
            open_by_phase = {}
            for kind, rclass, raised, resolved in sc['alerts']:
                if order.index(raised) > stop:
                    continue
                rcpt = f'rmc:{p.home_region}' if rclass == 'rmc' else f'vo:{p.school}'
                put((p.pgn, kind, rcpt))
                if resolved and order.index(resolved) <= stop:
                    put((p.pgn, 'OPGELOST', rcpt))
                if rclass == 'rmc' and p.home_region not in acking_regions and kind in ('ZOMERLEK', 'NIET_GESTART'):
                    # the next clock move at least 7 days later is the following phase
                    esc = order[order.index(raised) + 1]
                    if esc in ('aanmelddatum', 'zomer', 'teldatum'):
                        esc = order[order.index(esc) + 1]
                    if order.index(esc) <= stop and (not resolved or order.index(resolved) >= order.index(esc)):
                        put(('', 'ESCALATIE', f'projectteam:{p.home_region}'))
                        if resolved and order.index(resolved) <= stop:
                            put(('', 'OPGELOST', f'projectteam:{p.home_region}'))
                open_by_phase[kind] = raised
        return out

    def facts_at(self, p, upto):
        """The events of pupil p pushed by the end of phase upto."""
        idx = PHASES.index(upto) if upto in PHASES else len(PHASES) - 1
        return [r for ph, _, r in p.events if PHASES.index(ph) <= idx]

    def alert_flags(self, p, upto):
        order = ['P1', 'aanmelddatum', 'P2', 'zomer', 'P3', 'teldatum', 'P4', 'END']
        kinds = {k for k, _, raised, _ in SCENARIOS[p.scenario]['alerts']
                 if order.index(raised) <= order.index(upto)}
        return 'ZOMERLEK' in kinds, 'NIET_GESTART' in kinds

    def stats(self, upto, key):
        """Independent counts of DESIGN §5.2 per group after phase `upto`
        (P1..P4; the teldatum has passed from P4 on). key(p) gives the group."""
        teldatum_passed = upto in ('P4', 'END')
        rows = {}
        for p in self.pupils:
            if not p.registered:
                continue
            evs = self.facts_at(p, upto)
            st = status_of(evs, teldatum_passed)
            r = rows.setdefault(key(p), dict(overstappers=0, met_keuze=0, aangemeld=0, aangemeld_op_tijd=0,
                                             geplaatst=0, ingeschreven=0, andere_bestemming=0, ddd=0,
                                             zomerlek=0, niet_gestart=0))
            r['overstappers'] += 1
            r['met_keuze'] += st != 'GEEN_KEUZE'
            r['aangemeld'] += st == 'AANGEMELD'
            r['geplaatst'] += st == 'GEPLAATST'
            r['ingeschreven'] += st == 'INGESCHREVEN'
            r['andere_bestemming'] += st == 'ANDERE_BESTEMMING'
            r['ddd'] += any(e['kind'] == 'DDD_AANGELEVERD' for e in evs)
            firsts = [e['occurred_at'] for e in evs if e['kind'] == 'AANGEMELD']
            r['aangemeld_op_tijd'] += bool(firsts) and min(firsts) < self.deadlines['aanmelddatum']
            zl, ng = self.alert_flags(p, upto)
            r['zomerlek'] += zl
            r['niet_gestart'] += ng
        for r in rows.values():
            n = r['overstappers']
            r['in_beeld_pct'] = 100.0 * r['met_keuze'] / n if n else 0.0
            r['definitief_pct'] = 100.0 * (r['ingeschreven'] + r['andere_bestemming']) / n if n else 0.0
            r['ddd_pct'] = 100.0 * r['ddd'] / n if n else 0.0
        return rows


def status_of(events, teldatum_passed):
    """DESIGN §5, rule by rule, from a pupil's events (dicts as pushed)."""
    latest = {}
    vo = {}
    for e in sorted(events, key=lambda e: e['occurred_at']):
        k = KIND[e['kind']]
        if k >= 10:
            latest[e['school']] = k
        else:
            vo[k] = e
    facts = set(latest.values())
    if 15 in facts:
        return 'INGESCHREVEN'
    if 16 in facts or (teldatum_passed and facts & {10, 11, 12}):
        return 'NIET_GESTART'
    if 12 in facts:
        return 'GEPLAATST'
    if facts & {10, 11}:
        return 'AANGEMELD'
    if facts:
        return 'ZONDER_PLEK'
    if 5 in vo:
        t = vo[5]['occurred_at']
        if not any(k in vo and vo[k]['occurred_at'] > t for k in (4, 6)):
            return 'BLIJFT_IN_VO'
    if 2 in vo:
        return 'KEUZE' if vo[2].get('bestemming', 'MBO') == 'MBO' else 'ANDERE_BESTEMMING'
    return 'GEEN_KEUZE'


CSV_FIELDS = ['event_id', 'pgn', 'occurred_at', 'kind', 'cohort', 'school', 'woongemeente', 'vo_soort',
              'birth_date', 'name', 'bestemming', 'crebo', 'mbo_instelling', 'niveau', 'leerweg', 'reason']


def csv_text(rows):
    """rows as overstap-push CSV (header of StatusUpdate field names; enums by
    name; occurred_at in ISO 8601)."""
    import csv
    import io
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator='\n')
    w.writerow(CSV_FIELDS)
    for r in rows:
        out = []
        for f in CSV_FIELDS:
            v = r.get(f, '')
            if f == 'occurred_at':
                v = iso(v)
            out.append(v)
        w.writerow(out)
    return buf.getvalue()
