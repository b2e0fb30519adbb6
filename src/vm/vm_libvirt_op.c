/*
 * vm_libvirt_op.c - one job's libvirt calls, on a lane thread: create,
 * resume, suspend, save, restore, shut down, destroy; and the state a
 * domain is in afterwards.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "log.h"
#include "vm.h"
#include "vm_libvirt.h"
#include "vm_xml.h"

#define SHUTDOWN_POLL_MS 50

enum vm_dstate
dom_state(virDomainPtr d)
{
	int st, reason;

	if (virDomainGetState(d, &st, &reason, 0) == -1)
		return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ?
		    VM_DS_NONE : VM_DS_OTHER;
	switch (st) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:	/* running, waiting on a resource */
		return VM_DS_RUNNING;
	case VIR_DOMAIN_PAUSED:
		return VM_DS_PAUSED;
	case VIR_DOMAIN_SHUTOFF:
		return virDomainHasManagedSaveImage(d, 0) == 1 ?
		    VM_DS_SAVED : VM_DS_SHUTOFF;
	default:
		return VM_DS_OTHER;
	}
}

static enum vm_dstate
name_state(virConnectPtr c, const char *name)
{
	virDomainPtr d;
	enum vm_dstate st;

	if ((d = virDomainLookupByName(c, name)) == NULL)
		return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ?
		    VM_DS_NONE : VM_DS_OTHER;
	st = dom_state(d);
	virDomainFree(d);
	return st;
}

/* The state a successful op leaves; VM_DS_OTHER: read it. */
static enum vm_dstate
op_state(enum vm_op op)
{
	switch (op) {
	case VM_CREATE:
	case VM_DEFINE_START:
	case VM_RESUME:
	case VM_RESTORE:
		return VM_DS_RUNNING;
	case VM_CREATE_PAUSED:
	case VM_SUSPEND:
		return VM_DS_PAUSED;
	case VM_SAVE:
		return VM_DS_SAVED;
	default:
		return VM_DS_OTHER;
	}
}

static int
job_fail(struct vm_job *j, int *code)
{
	*code = lv_error(j->err, sizeof(j->err));
	j->rc = -1;
	return -1;
}

/* An already-gone domain, or one already shut off, is stopped. */
static bool
stopped_anyway(int code)
{
	return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID;
}

/* VM_DESTROY, and the end of VM_SHUTDOWN. */
static int
op_destroy(struct vm *vm, virDomainPtr d, struct vm_job *j, bool persistent,
    int *code)
{
	char err[sizeof(j->err)];
	int c;

	if (virDomainIsActive(d) != 0 && virDomainDestroy(d) == -1 &&
	    !stopped_anyway(c = lv_error(err, sizeof(err)))) {
		snprintf(j->err, sizeof(j->err), "%s", err);
		*code = c;
		j->rc = -1;
		return -1;
	}
	asked_arm(vm, j->domain);
	if (persistent && virDomainUndefineFlags(d,
	    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) == -1 &&
	    (c = lv_error(err, sizeof(err))) != VIR_ERR_NO_DOMAIN) {
		snprintf(j->err, sizeof(j->err), "%s", err);
		*code = c;
		j->rc = -1;
		return -1;
	}
	return 0;
}

/*
 * VM_SHUTDOWN: ask, poll, then destroy.  The reference image ignores the
 * ACPI power button, so the destroy after shutdown_ms is the usual
 * ending there; a Linux guest powers off.
 */
static int
op_shutdown(struct vm *vm, virDomainPtr d, struct vm_job *j, bool persistent,
    int *code)
{
	uint64_t deadline;
	int st, reason;

	if (virDomainShutdown(d) == 0) {
		deadline = now_us() + j->shutdown_ms * 1000;
		while (now_us() < deadline) {
			if (virDomainGetState(d, &st, &reason, 0) == -1 ||
			    st == VIR_DOMAIN_SHUTOFF)
				break;
			sleep_ms(SHUTDOWN_POLL_MS);
		}
	} else
		log_debug("%s: shutdown: %s", j->domain,
		    virGetLastErrorMessage());
	return op_destroy(vm, d, j, persistent, code);
}

/*
 * KVM when /dev/kvm is read-write for us and hardware virtualisation is
 * behind it (kvm_intel or kvm_amd).  A
 * /dev/kvm made in software (kvm_pvm, on hosts that are VMs without
 * nested virtualisation) runs only guest kernels built for it: the
 * reference image stops at its first interrupt there, so TCG it is.
 * We run as root, so this does not prove that QEMU's user
 * (libvirt-qemu) can open /dev/kvm; without udev it may be 0600 root
 * (scripts/setup fixes that), and a create then fails loudly, which
 * beats silently running TCG.  scripts/accel makes the same choice for
 * the tests and benchmarks.
 */
static bool
kvm_usable(void)
{
	return access("/dev/kvm", R_OK | W_OK) == 0 &&
	    (access("/sys/module/kvm_intel", F_OK) == 0 ||
	    access("/sys/module/kvm_amd", F_OK) == 0);
}

int
op_run(struct vm *vm, virConnectPtr c, struct vm_job *j, int *code,
    bool retry)
{
	virDomainPtr d = NULL;
	bool persistent = false, stopping;
	char *xml = NULL;
	int rc = -1;

	*code = VIR_ERR_OK;
	j->rc = 0;
	j->err[0] = '\0';
	switch (j->op) {
	case VM_LIST:
		free(j->domains);
		if ((j->network != NULL &&
		    network_on(c, j->network, j->err, sizeof(j->err)) == -1) ||
		    (j->domains = list_on(c, &j->ndomains, j->err,
		    sizeof(j->err))) == NULL) {
			*code = virGetLastErrorCode();
			j->rc = -1;
		}
		j->state = VM_DS_OTHER;
		return j->rc;
	case VM_HOST_INFO:
		if ((j->free_memory = virNodeGetFreeMemory(c)) == 0)
			job_fail(j, code);
		j->state = VM_DS_OTHER;
		return j->rc;
	case VM_CREATE:
	case VM_CREATE_PAUSED:
	case VM_DEFINE_START:
		if (j->guest == NULL) {
			snprintf(j->err, sizeof(j->err), "no guest to create");
			j->rc = -1;
			goto out;
		}
		if ((xml = vm_domain_xml(j->guest, kvm_usable(), j->err,
		    sizeof(j->err))) == NULL) {
			j->rc = -1;
			goto out;
		}
		if (j->op == VM_DEFINE_START)
			d = virDomainDefineXML(c, xml);
		else
			d = virDomainCreateXML(c, xml,
			    j->op == VM_CREATE_PAUSED ?
			    VIR_DOMAIN_START_PAUSED : 0);
		/*
		 * Retried after libvirtd went away: the first call may have
		 * taken effect.  Our names are never reused, so a domain of
		 * this name is the one we asked for.
		 */
		if (d == NULL && retry &&
		    (d = virDomainLookupByName(c, j->domain)) != NULL) {
			log_info("%s: created before the connection was lost",
			    j->domain);
			if (j->op == VM_DEFINE_START &&
			    virDomainIsActive(d) != 1 && virDomainCreate(d) == -1)
				job_fail(j, code);
			if (virDomainGetUUIDString(d, j->uuid) == -1)
				j->uuid[0] = '\0';
			break;
		}
		if (d == NULL) {
			job_fail(j, code);
			goto out;
		}
		if (virDomainGetUUIDString(d, j->uuid) == -1)
			j->uuid[0] = '\0';
		if (j->op == VM_DEFINE_START && virDomainCreate(d) == -1) {
			job_fail(j, code);
			/* Leave nothing behind that the caller does not know. */
			virDomainUndefineFlags(d,
			    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE);
			goto out;
		}
		break;
	default:
		if ((d = virDomainLookupByName(c, j->domain)) == NULL) {
			if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN &&
			    (j->op == VM_STATE || j->op == VM_DESTROY ||
			    j->op == VM_SHUTDOWN))
				break;		/* gone: that is fine */
			job_fail(j, code);
			goto out;
		}
		stopping = j->op == VM_DESTROY || j->op == VM_SHUTDOWN;
		if (stopping) {
			persistent = virDomainIsPersistent(d) == 1;
			asked_add(vm, j->domain);
		}
		/*
		 * VM_RESTORE is virDomainCreate: libvirt restores the managed
		 * save image when there is one (and boots afresh otherwise).
		 */
		if ((j->op == VM_RESUME && virDomainResume(d) == -1) ||
		    (j->op == VM_SUSPEND && virDomainSuspend(d) == -1) ||
		    (j->op == VM_SAVE && virDomainManagedSave(d, 0) == -1) ||
		    (j->op == VM_RESTORE && virDomainCreate(d) == -1))
			job_fail(j, code);
		else if (j->op == VM_DESTROY)
			op_destroy(vm, d, j, persistent, code);
		else if (j->op == VM_SHUTDOWN)
			op_shutdown(vm, d, j, persistent, code);
		if (stopping && j->rc == -1)
			asked_arm(vm, j->domain);	/* expire it */
		break;
	}
	rc = j->rc;
out:
	/*
	 * The domain's state after every op, even a failed one: what a
	 * successful start or pause leaves is known, and reading it back
	 * would cost a waiting client two more round trips (~1.4 ms).
	 */
	j->state = rc == 0 ? op_state(j->op) : VM_DS_OTHER;
	if (j->state == VM_DS_OTHER)
		j->state = d != NULL ? dom_state(d) :
		    name_state(c, j->domain);
	if (d != NULL)
		virDomainFree(d);
	free(xml);
	return rc == 0 ? 0 : -1;
}
