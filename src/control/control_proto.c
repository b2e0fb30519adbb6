/*
 * control_proto.c - encoding and decoding of the control protocol.
 *
 * Pure functions over strings, shared by summond and summonctl, so the
 * wire format lives in one place and tests need no socket.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "control.h"

static const char *const cmd_names[] = {
	[CTL_LIST] = "list", [CTL_STATUS] = "status", [CTL_BOOT] = "boot",
	[CTL_REAP] = "reap", [CTL_EVENTS] = "events", [CTL_RELOAD] = "reload",
	[CTL_HOSTS] = "hosts",
};
#define NCMDS	(sizeof(cmd_names) / sizeof(cmd_names[0]))

#define EVENTS_MAX	10000	/* most events one request may ask for */

const char *
ctl_cmd_name(enum ctl_cmd c)
{
	return (size_t)c < NCMDS ? cmd_names[c] : "?";
}

bool
ctl_cmd_changes(enum ctl_cmd c)
{
	return c == CTL_BOOT || c == CTL_REAP || c == CTL_RELOAD;
}

static int	fail(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copy a service name from o[key] into out, checking its syntax. */
static int
get_service(json_t *o, const char *key, bool required, char *out,
    size_t outlen, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (v == NULL) {
		if (required)
			return fail(err, errlen, "missing \"%s\"", key);
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return fail(err, errlen, "\"%s\" must be a string", key);
	s = json_string_value(v);
	if (!config_valid_service_name(s) || strlen(s) >= outlen)
		return fail(err, errlen, "invalid service name \"%.64s\"", s);
	snprintf(out, outlen, "%s", s);
	return 0;
}

static int
get_bool(json_t *o, const char *key, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = false;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return fail(err, errlen, "\"%s\" must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int
ctl_request_decode(const char *line, size_t len, struct ctl_request *req,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o, *v, *e;
	const char *cmd;
	size_t i;
	int rc = -1;

	memset(req, 0, sizeof(*req));
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return fail(err, errlen, "malformed JSON: %s", jerr.text);
	if (!json_is_object(o)) {
		fail(err, errlen, "a request is a JSON object");
		goto done;
	}
	v = json_object_get(o, "id");
	if (v != NULL && json_is_integer(v))
		req->id = json_integer_value(v);
	else if (v != NULL) {
		fail(err, errlen, "\"id\" must be an integer");
		goto done;
	}
	v = json_object_get(o, "v");
	if (!json_is_integer(v) || json_integer_value(v) != CTL_VERSION) {
		fail(err, errlen, "unsupported protocol version (this summond "
		    "speaks %d)", CTL_VERSION);
		goto done;
	}
	v = json_object_get(o, "cmd");
	if (!json_is_string(v)) {
		fail(err, errlen, "missing \"cmd\"");
		goto done;
	}
	cmd = json_string_value(v);
	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmd, cmd_names[i]) == 0)
			break;
	if (i == NCMDS) {
		fail(err, errlen, "unknown command \"%.32s\"", cmd);
		goto done;
	}
	req->cmd = (enum ctl_cmd)i;

	switch (req->cmd) {
	case CTL_LIST:
	case CTL_RELOAD:
	case CTL_HOSTS:
		break;
	case CTL_STATUS:
	case CTL_BOOT:
		if (get_service(o, "service", true, req->service,
		    sizeof(req->service), err, errlen) == -1)
			goto done;
		break;
	case CTL_EVENTS:
		if (get_service(o, "service", false, req->service,
		    sizeof(req->service), err, errlen) == -1 ||
		    get_bool(o, "follow", &req->follow, err, errlen) == -1)
			goto done;
		req->n = 20;
		v = json_object_get(o, "n");
		if (v != NULL) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > EVENTS_MAX) {
				fail(err, errlen, "\"n\" must be 0-%d",
				    EVENTS_MAX);
				goto done;
			}
			req->n = (unsigned)json_integer_value(v);
		}
		break;
	case CTL_REAP:
		if (get_bool(o, "idle", &req->idle, err, errlen) == -1 ||
		    get_bool(o, "all", &req->all, err, errlen) == -1)
			goto done;
		v = json_object_get(o, "services");
		if (v != NULL && !json_is_array(v)) {
			fail(err, errlen, "\"services\" must be an array");
			goto done;
		}
		if ((v != NULL && json_array_size(v) > 0) + req->idle +
		    req->all != 1) {
			fail(err, errlen, "reap needs services, idle or all "
			    "(exactly one)");
			goto done;
		}
		if (v == NULL)
			break;
		req->services = calloc(json_array_size(v), sizeof(char *));
		if (req->services == NULL) {
			fail(err, errlen, "out of memory");
			goto done;
		}
		json_array_foreach(v, i, e) {
			if (!json_is_string(e) ||
			    !config_valid_service_name(json_string_value(e))) {
				fail(err, errlen, "invalid service name in "
				    "\"services\"");
				goto done;
			}
			req->services[req->nservices] =
			    strdup(json_string_value(e));
			if (req->services[req->nservices++] == NULL) {
				fail(err, errlen, "out of memory");
				goto done;
			}
		}
		break;
	}
	rc = 0;
done:
	json_decref(o);
	if (rc == -1) {
		int64_t id = req->id;
		ctl_request_clear(req);
		req->id = id;
	}
	return rc;
}

void
ctl_request_clear(struct ctl_request *req)
{
	size_t i;

	for (i = 0; i < req->nservices; i++)
		free(req->services[i]);
	free(req->services);
	memset(req, 0, sizeof(*req));
}

/* Serialise o as one line with a newline, and drop the reference. */
static char *
line_of(json_t *o)
{
	char *s, *line = NULL;

	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return NULL;
	if (asprintf(&line, "%s\n", s) == -1)
		line = NULL;
	free(s);
	return line;
}

char *
ctl_request_encode(const struct ctl_request *req)
{
	json_t *o, *a;
	size_t i;

	o = json_pack("{s:i, s:I, s:s}", "v", CTL_VERSION, "id",
	    (json_int_t)req->id, "cmd", ctl_cmd_name(req->cmd));
	if (o == NULL)
		return NULL;
	if (req->service[0] != '\0')
		json_object_set_new(o, "service", json_string(req->service));
	switch (req->cmd) {
	case CTL_EVENTS:
		json_object_set_new(o, "n", json_integer(req->n));
		if (req->follow)
			json_object_set_new(o, "follow", json_true());
		break;
	case CTL_REAP:
		if (req->idle)
			json_object_set_new(o, "idle", json_true());
		if (req->all)
			json_object_set_new(o, "all", json_true());
		if (req->nservices > 0) {
			a = json_array();
			for (i = 0; i < req->nservices; i++)
				json_array_append_new(a,
				    json_string(req->services[i]));
			json_object_set_new(o, "services", a);
		}
		break;
	default:
		break;
	}
	return line_of(o);
}

char *
ctl_answer_ok(int64_t id, json_t *result)
{
	return line_of(json_pack("{s:i, s:I, s:b, s:o}", "v", CTL_VERSION,
	    "id", (json_int_t)id, "ok", 1,
	    "result", result != NULL ? result : json_object()));
}

int
ctl_answer_ok_array(int64_t id, const char *key, size_t n,
    json_t *(*item)(void *, size_t), void *arg, json_dump_callback_t out,
    void *outarg)
{
	static const char tail[] = "[]}}\n";
	char *head;
	json_t *o;
	size_t i, len;
	bool first = true;
	int rc;

	/*
	 * The answer with an empty array last, split where the items go:
	 * "...,"result":{"key":[" and "]}}\n".
	 */
	head = line_of(json_pack("{s:i, s:I, s:b, s:{s:[]}}", "v",
	    CTL_VERSION, "id", (json_int_t)id, "ok", 1, "result", key));
	if (head == NULL || (len = strlen(head)) < sizeof(tail) - 1 ||
	    strcmp(head + len - (sizeof(tail) - 1), tail) != 0) {
		free(head);
		return -1;
	}
	len -= sizeof(tail) - 2;
	rc = out(head, len, outarg);
	for (i = 0; i < n && rc == 0; i++) {
		if ((o = item(arg, i)) == NULL)
			continue;
		if (!first)
			rc = out(",", 1, outarg);
		if (rc == 0)
			rc = json_dump_callback(o, out, outarg,
			    JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(o);
		first = false;
	}
	if (rc == 0)
		rc = out(head + len, strlen(head + len), outarg);
	free(head);
	return rc == 0 ? 0 : -1;
}

char *
ctl_answer_error(int64_t id, const char *fmt, ...)
{
	char *msg, *p;
	json_t *text;
	va_list ap;
	int n;

	/* As long as it is: reload's errors are a line each. */
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n == -1)
		return NULL;
	/* JSON strings are UTF-8; a configuration file may not be. */
	if ((text = json_string(msg)) == NULL) {
		for (p = msg; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		text = json_string(msg);
	}
	free(msg);
	return line_of(json_pack("{s:i, s:I, s:b, s:o}", "v", CTL_VERSION,
	    "id", (json_int_t)id, "ok", 0, "error", text));
}

char *
ctl_push(int64_t id, const char *kind, json_t *body)
{
	return line_of(json_pack("{s:i, s:I, s:o}", "v", CTL_VERSION, "id",
	    (json_int_t)id, kind, body));
}

int
ctl_answer_decode(const char *line, int64_t *id, const char **kind,
    json_t **body, char *err, size_t errlen)
{
	static const char *const pushes[] = { "progress", "event" };
	json_error_t jerr;
	json_t *o, *v;
	size_t i;
	int rc = -1;

	*body = NULL;
	o = json_loads(line, 0, &jerr);
	if (o == NULL)
		return fail(err, errlen, "malformed answer: %s", jerr.text);
	v = json_object_get(o, "v");
	if (!json_is_object(o) || !json_is_integer(v) ||
	    json_integer_value(v) != CTL_VERSION) {
		fail(err, errlen, "answer of an unknown protocol version");
		goto done;
	}
	v = json_object_get(o, "id");
	*id = json_is_integer(v) ? json_integer_value(v) : 0;
	for (i = 0; i < 2; i++)
		if ((v = json_object_get(o, pushes[i])) != NULL) {
			*kind = pushes[i];
			*body = json_incref(v);
			rc = 0;
			goto done;
		}
	v = json_object_get(o, "ok");
	if (!json_is_boolean(v)) {
		fail(err, errlen, "answer without \"ok\"");
		goto done;
	}
	if (json_is_true(v)) {
		*kind = "result";
		v = json_object_get(o, "result");
		*body = v != NULL ? json_incref(v) : json_object();
	} else {
		*kind = "error";
		v = json_object_get(o, "error");
		*body = json_string(json_is_string(v) ? json_string_value(v) :
		    "unknown error");
	}
	rc = 0;
done:
	json_decref(o);
	return rc;
}
