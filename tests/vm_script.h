/*
 * vm_script.h - a vm backend for tests, scripted by the test: no
 * threads, no libvirt, no guest.
 *
 * It keeps the domains it was asked to make (name, state, persistence,
 * our metadata) as a hypervisor would, and answers every job on the
 * loop that opened it, as a real backend does: by default on the next
 * turn of the loop, successfully, leaving the state the op leaves.  The
 * test can instead delay a job, fail it, hold it until it says so
 * (manual mode, to walk a state machine one step at a time), deliver
 * lifecycle events now, late or out of order, lose a domain, and drop
 * and restore the connection.  Everything runs on the loop's thread.
 */
#ifndef SUMMON_TESTS_VM_SCRIPT_H
#define SUMMON_TESTS_VM_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm.h"

extern const struct vm_backend_ops vm_script_ops;

/*
 * The backend opened last; the one open with uri (several hosts).
 * "script:///fail" and "script:///down..." fail to connect: open()
 * fails, or with VM_OPEN_LAZY returns a backend down until
 * vm_script_reconnect().
 */
struct vm	*vm_script_last(void);
struct vm	*vm_script_find(const char *uri);
/* The network the last VM_LIST ensured, read as it ran ("" none). */
const char	*vm_script_listed_network(struct vm *);
/* What VM_HOST_INFO answers (default 0). */
void		 vm_script_set_free_memory(struct vm *, uint64_t bytes);
/*
 * Complete the VM_LIST and VM_HOST_INFO jobs waiting now (in manual
 * mode they wait like the others); how many.
 */
size_t		 vm_script_finish_host_jobs(struct vm *);

/*
 * The next job of op (on domain, or any if domain is NULL) completes
 * delay_ms after it is submitted, with rc (0, or -1 and err).  Rules are
 * used once each, in the order given; jobs no rule matches succeed on
 * the next turn of the loop.  In manual mode vm_script_finish() decides.
 */
void		 vm_script_on(struct vm *, enum vm_op op, const char *domain,
		    int delay_ms, int rc, const char *err);
/* Manual mode: jobs wait until vm_script_finish(). */
void		 vm_script_manual(struct vm *, bool on);
/* The jobs submitted and not done, oldest first; their number. */
size_t		 vm_script_pending(struct vm *, struct vm_job **out,
		    size_t max);
/* The oldest job waiting on domain, or NULL. */
struct vm_job	*vm_script_job(struct vm *, const char *domain);
/*
 * Complete job now (its done() runs before this returns): rc 0 does
 * what the op does to the domain, whatever state it was in; -1 reports
 * err and leaves it.
 */
void		 vm_script_finish(struct vm *, struct vm_job *, int rc,
		    const char *err);
/* Deliver ev for domain now (delay_ms 0) or that much later. */
void		 vm_script_event(struct vm *, const char *domain,
		    enum vm_event ev, int delay_ms);
/* The domain vanishes, as if destroyed behind summon's back. */
void		 vm_script_lose(struct vm *, const char *domain);
/*
 * Put domain in state st (VM_DS_NONE: it vanishes), e.g. so that the
 * failure of a job finds it running.
 */
void		 vm_script_set_state(struct vm *, const char *domain,
		    enum vm_dstate st);
/*
 * The connection goes down (on_down; jobs wait) or comes back
 * (on_reconnect).
 */
void		 vm_script_disconnect(struct vm *);
void		 vm_script_reconnect(struct vm *);

/* What the script saw: jobs submitted of op; the state of domain. */
unsigned	 vm_script_count(struct vm *, enum vm_op op);
enum vm_dstate	 vm_script_state(struct vm *, const char *domain);
/* The guest last created as domain (NULL if none): its kernel, ports. */
const struct vm_guest *vm_script_guest(struct vm *, const char *domain);

#endif
