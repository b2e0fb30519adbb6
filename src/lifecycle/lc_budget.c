/*
 * lc_budget.c - the standby budget: standbys shared by all services,
 * kept where the next wake is most likely.
 *
 * Each service has a score: its wakes that had to bring it up (a boot,
 * a resume, a claim; not the ones that found it serving or joined a boot
 * under way), each counting half after standby-half-life such wakes of
 * all services.  The clock is that count, not seconds, so the policy
 * does not depend on how fast the workload goes, and a quiet hour
 * forgets nothing.  A score is kept as one number, its rank
 *	rank = log2(score at clock c) + c / half-life,
 * which does not change while the clock runs (every score halves at the
 * same pace), so ranks compare without decaying anything: a wake only
 * updates the one service it woke.
 *
 * The budget's standbys sit on the services ranked highest that have no
 * standby of their own (standby = N is a floor the budget leaves alone)
 * and are not running.  The reaper's tick makes at most one move: a
 * standby made for the best such service while the budget has room, or,
 * when it is full, the standby of the lowest holder destroyed for it,
 * only if the challenger's score is MOVE_FACTOR times the holder's and
 * the holder has had it MIN_RESIDENCE_MS.  No move while a boot or a
 * budget standby is under way: a wake always comes first, and a create
 * is hundreds of milliseconds of libvirtd.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "lc_internal.h"
#include "log.h"

#define MOVE_FACTOR		1.5	/* a challenger's score over a holder's */
#define MIN_RESIDENCE_MS	10000	/* a budget standby stays this long */

/* The clock in half-lives. */
static double
clock_halves(const struct lifecycle *lc)
{
	return (double)lc->cold_wakes / lc->cfg->standby_half_life;
}

double
lc_budget_score(const struct lc_service *s)
{
	if (s->rank == -HUGE_VAL)
		return 0;
	return exp2(s->rank - clock_halves(s->lc));
}

void
lc_budget_wake(struct lc_service *s)
{
	struct lifecycle *lc = s->lc;
	double score;

	lc->cold_wakes++;
	if (s->rank == -HUGE_VAL)
		SLIST_INSERT_HEAD(&lc->ranked, s, ranked);
	score = lc_budget_score(s) + 1;
	s->rank = log2(score) + clock_halves(lc);
}

void
lc_budget_unlink(struct instance *in)
{
	struct lifecycle *lc = in->lc;

	if (!in->budget)
		return;
	in->budget = false;
	in->svc->nbudget--;
	lc->budget_n--;
	lc->budget_memory -= in->memory;
}

/* Whether the budget holds room for one more standby of memory bytes. */
static bool
budget_room(const struct lifecycle *lc, uint64_t memory)
{
	const struct config *cfg = lc->cfg;

	if (cfg->standby_budget > 0 && lc->budget_n >= cfg->standby_budget)
		return false;
	return cfg->standby_memory == 0 ||
	    lc->budget_memory + memory <= cfg->standby_memory;
}

/*
 * Whether a move must wait: a boot under way (a wake comes first), or a
 * budget standby still being made (one create at a time).
 */
static bool
busy(const struct lifecycle *lc)
{
	const struct instance *in;

	TAILQ_FOREACH(in, &lc->instances, live)
		if (lc_istate_public(in->state) == LC_STARTING ||
		    (in->budget && in->state != SB_COLD &&
		    in->state != SB_WARM))
			return true;
	return false;
}

/* Whether s may hold a budget standby now. */
static bool
eligible(const struct lc_service *s, uint64_t now)
{
	return s->cfg != NULL && s->cfg->standby == 0 && s->active == NULL &&
	    s->nbudget == 0 && s->rank != -HUGE_VAL &&
	    now >= s->sby_retry_at_us;
}

/* s's budget standby that could move: paused, held long enough. */
static struct instance *
movable(const struct lc_service *s, uint64_t now)
{
	struct instance *in;

	TAILQ_FOREACH(in, &s->standby, sby)
		if (in->budget && (in->state == SB_COLD ||
		    in->state == SB_WARM) &&
		    now - in->placed_us >= MIN_RESIDENCE_MS * 1000ULL)
			return in;
	return NULL;
}

void
lc_budget_tick(struct lifecycle *lc)
{
	const struct config *cfg = lc->cfg;
	struct lc_service *s, *best = NULL, *low = NULL;
	struct instance *victim = NULL, *in;
	uint64_t now = clock_mono_us();

	if ((cfg->standby_budget == 0 && cfg->standby_memory == 0) ||
	    lc->shutting_down || busy(lc))
		return;
	/* Only a service woken before can be best, or hold one. */
	SLIST_FOREACH(s, &lc->ranked, ranked) {
		if (eligible(s, now) && (best == NULL || s->rank > best->rank))
			best = s;
		if (s->nbudget > 0 && (in = movable(s, now)) != NULL &&
		    (low == NULL || s->rank < low->rank)) {
			low = s;
			victim = in;
		}
	}
	if (best == NULL)
		return;
	if (budget_room(lc, best->cfg->memory)) {
		if (lc_make_standby(best, true) == 0)
			lc_record(lc, best->name, 0, "budget", "standby made "
			    "(score %.2f; %u of the budget's now)",
			    lc_budget_score(best), lc->budget_n);
		return;
	}
	/* Full: take the lowest holder's, if the best outranks it well. */
	if (victim == NULL ||
	    best->rank <= low->rank + log2(MOVE_FACTOR))
		return;
	lc_record(lc, low->name, victim->id, "budget", "standby moved to %s "
	    "(score %.2f, against %.2f)", best->name, lc_budget_score(best),
	    lc_budget_score(low));
	lc_fire(victim, LE_STOP, "moved");
}
